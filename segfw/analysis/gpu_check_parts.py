"""The parts of ``tools/gpu_check.py``, each run in its own process (``python -m segfw.analysis.gpu_check_parts``).

A part reads its settings (a JSON object) and appends one JSON row per case it checks to a rows file
as soon as the case ends, so that rows already measured survive a part that is killed at its time
limit. A row is ``{"part", "case", "setting", "status", "seconds", "figures", "detail"}``; ``status`` is
``ok``, ``failed`` (``detail``: the error's last line), ``skipped`` (``detail``: why) or ``timeout``
(written by the parent, :mod:`segfw.analysis.gpu_check`).

Parts:

- ``env``: torch, CUDA, cuDNN, NCCL versions, the device and its capability.
- ``train``: one preset trained by ``segfw.apis.train`` (the real trainer: autocast, GradScaler, memory
  layout, ``torch.compile``) in every precision × layout, eager, and in the compiled settings asked for;
  figures from the run's own ``scalars.jsonl``: steady-state images/s (the second of two log intervals,
  so start-up and compilation are left out), ms per step, peak CUDA memory, and the last losses (finite).
- ``torchrun``: ``tools/train.py`` under a one-process ``torchrun`` (NCCL and SyncBN on CUDA, gloo on CPU).
- ``eval``: the checkpoint of the first ``train`` case evaluated by ``segfw.apis.evaluate`` whole and
  slide-window with flip: images/s and mIoU.
- ``cuda_tests``: ``pytest -m cuda`` (the tests that need a GPU).
- ``peers``: :mod:`segfw.analysis.peer_benchmark` (segfw against torchvision and smp, alternating rounds).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

PRECISION_OVERRIDES = {
    "fp32": ["trainer.amp=false"],
    "bf16": ["trainer.amp=true", "trainer.amp_dtype=bf16"],
    "fp16": ["trainer.amp=true", "trainer.amp_dtype=fp16"],  # the trainer adds a GradScaler for fp16
}
LAYOUT_OVERRIDES = {"channels_last": ["trainer.channels_last=true"], "nchw": ["trainer.channels_last=false"]}


class RowWriter:
    """Appends rows of one part to ``path`` (JSON lines), one flush per row."""

    def __init__(self, path: Path, part: str):
        self.path, self.part = path, part

    def write(self, case: str, setting: str, status: str, seconds: float, figures: Mapping[str, Any] | None = None,
              detail: str = "") -> None:
        row = {"part": self.part, "case": case, "setting": setting, "status": status, "seconds": round(seconds, 2),
               "figures": dict(figures or {}), "detail": detail}
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(row) + "\n")

    @contextmanager
    def case(self, case: str, setting: str) -> Iterator[dict]:
        """Time the body; it fills the yielded dict with figures. An exception becomes a ``failed`` row."""
        figures: dict[str, Any] = {}
        tic = time.perf_counter()
        try:
            yield figures
        except Exception as error:  # a failing case is a row of the report, never the end of the check
            last = traceback.format_exception_only(type(error), error)[-1].strip()
            self.write(case, setting, "failed", time.perf_counter() - tic, figures, last[:500])
        else:
            self.write(case, setting, "ok", time.perf_counter() - tic, figures)


def tiny_train_overrides(spec: Mapping[str, Any], run_dir: Path) -> list[str]:
    """The data and schedule of every training case: synthetic scenes drawn on the machine, two log intervals."""
    height, width = spec["crop_size"]
    iters = int(spec["iters"])
    return [
        f"device={spec['device']}", "dataset=synthetic", f"dataset.num_train={spec['batch_size'] * 2}",
        "dataset.num_val=2", f"dataset.image_size=[{height},{width}]", f"dataset.cache_dir={spec['cache_dir']}",
        f"trainer.max_iters={2 * iters}", f"trainer.log_interval={iters}", f"trainer.eval_interval={2 * iters}",
        f"trainer.batch_size={spec['batch_size']}", f"trainer.crop_size=[{height},{width}]",
        f"trainer.num_workers={spec['num_workers']}", "trainer.num_vis_images=0", f"run_dir={run_dir}",
        *spec.get("overrides", []),
    ]


def steady_figures(run_dir: Path, batch_size: int) -> dict[str, float]:
    """Figures of the last ``train/*`` record of ``run_dir/scalars.jsonl`` (the second log interval)."""
    records = [json.loads(line) for line in (run_dir / "scalars.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [r for r in records if "train/images_per_s" in r]
    if not train:
        raise RuntimeError(f"{run_dir / 'scalars.jsonl'} holds no train/images_per_s record")
    last = train[-1]
    losses = {k.removeprefix("train/"): v for k, v in last.items() if k.startswith("train/loss")}
    if not all(math.isfinite(v) for v in losses.values()):
        raise RuntimeError(f"non-finite training loss: {losses}")
    figures = {"images_per_s": round(last["train/images_per_s"], 2),
               "ms_per_step": round(1000 * batch_size / last["train/images_per_s"], 1), **losses}
    if "train/peak_memory_MiB" in last:
        figures["peak_MiB"] = round(last["train/peak_memory_MiB"])
    return figures


def train_settings(spec: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(precision, layout, compiled) of every case of one preset: the eager matrix, then the compiled settings."""
    eager = [(p, layout, False) for p in spec["precisions"] for layout in spec["layouts"]]
    compiled = [(*setting.split("/"), True) for setting in spec["compile_settings"]] if spec["compile"] else []
    return eager + compiled


def part_train(spec: Mapping[str, Any], rows: RowWriter) -> None:
    import torch

    from segfw.apis.train import train
    from segfw.config import compose_config

    preset = spec["preset"]
    for precision, layout, compiled in train_settings(spec):
        setting = f"{precision}, {layout}, {'compiled' if compiled else 'eager'}"
        if precision == "fp16" and spec["device"] == "cpu":
            rows.write(preset, setting, "skipped", 0.0, detail="fp16 autocast with a GradScaler is CUDA only")
            continue
        run_dir = Path(spec["work_dir"]) / "runs" / f"{preset}_{precision}_{layout}_{'compiled' if compiled else 'eager'}"
        overrides = [f"model={preset}", *tiny_train_overrides(spec, run_dir), *PRECISION_OVERRIDES[precision],
                     *LAYOUT_OVERRIDES[layout], f"trainer.compile={str(compiled).lower()}"]
        with rows.case(preset, setting) as figures:
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            metrics = train(compose_config("train", overrides))
            figures.update(steady_figures(run_dir, spec["batch_size"]))
            figures["mIoU"] = round(float(metrics.get("mIoU", float("nan"))), 4)


def part_torchrun(spec: Mapping[str, Any], rows: RowWriter) -> None:
    preset = spec["presets"][0]
    run_dir = Path(spec["work_dir"]) / "runs" / f"torchrun_{preset}"
    # one process joins a process group of one: DDP over NCCL (gloo on CPU) and the SyncBN conversion run as
    # with N processes; SyncBN exchanges batch statistics only with >= 2 processes (docs/benchmarks.md)
    backend = "NCCL, DDP, trainer.sync_bn=true" if spec["device"].startswith("cuda") else "gloo, DDP"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
               str(REPO / "tools" / "train.py"), f"model={preset}", *tiny_train_overrides(spec, run_dir),
               "trainer.sync_bn=true"]
    with rows.case(preset, f"torchrun --nproc_per_node=1, {backend}") as figures:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=spec["limit_s"])
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        figures.update(steady_figures(run_dir, spec["batch_size"]))
        saved = json.loads((run_dir / "env.json").read_text(encoding="utf-8")) if (run_dir / "env.json").exists() else {}
        figures["world_size"] = saved.get("processes", 1)
        figures["process_group"] = saved.get("process_group")
        if figures["process_group"] is None:
            raise RuntimeError("the run joined no process group under torchrun (env.json: process_group null)")


def part_eval(spec: Mapping[str, Any], rows: RowWriter) -> None:
    from segfw.apis.evaluate import evaluate_checkpoint
    from segfw.config import compose_config

    runs = sorted((Path(spec["work_dir"]) / "runs").glob("*_eager"))
    if not runs:
        rows.write("eval", "whole / slide + flip", "skipped", 0.0, detail="no trained run to evaluate (train part failed)")
        return
    height, width = spec["crop_size"]
    window = [max(height // 2, 1), max(width // 2, 1)]
    stride = [max(height // 3, 1), max(width // 3, 1)]
    modes = {"whole": ["test.mode=whole"],
             "slide + flip": ["test.mode=slide", f"test.crop_size=[{window[0]},{window[1]}]",
                              f"test.stride=[{stride[0]},{stride[1]}]", "test.flip=true"]}
    for mode, extra in modes.items():
        with rows.case(runs[0].name, mode) as figures:
            overrides = [f"run_dir={runs[0]}", f"device={spec['device']}", *extra]
            tic = time.perf_counter()
            summary = evaluate_checkpoint(compose_config("eval", overrides), overrides)
            figures["images_per_s"] = round(2 / (time.perf_counter() - tic), 2)
            figures["mIoU"] = round(float(summary["mIoU"]), 4)


CUDA_TESTS_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected)")


def part_cuda_tests(spec: Mapping[str, Any], rows: RowWriter) -> None:
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "tests"]
    with rows.case("pytest -m cuda", spec["device"]) as figures:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=spec["limit_s"])
        tail = done.stdout.strip().splitlines()[-1:] or [""]
        figures.update({kind: int(n) for n, kind in CUDA_TESTS_SUMMARY.findall(tail[0])})
        if done.returncode not in (0, 5):  # 5: no test selected (none marked cuda)
            raise RuntimeError(f"pytest exit {done.returncode}: {tail[0]}")


def part_peers(spec: Mapping[str, Any], rows: RowWriter) -> None:
    from segfw.analysis.peer_benchmark import build_contenders, run_peer_benchmark
    from segfw.engine.device import resolve_device

    device = resolve_device(spec["device"])
    for family in spec["peer_families"]:
        with rows.case(family, "alternating rounds") as figures:
            contenders = build_contenders([family], 19, device, spec["peer_variants"])
            results, _ = run_peer_benchmark(contenders, 19, spec["crop_size"], spec["batch_size"], device,
                                            warmup=1, repeats=spec["peer_repeats"])
            for r in results:
                key = f"{r.name} [{r.setting}]"
                figures[key] = {"train_ms": round(r.train_ms, 1), "images_per_s": round(spec["batch_size"] * 1000 / r.train_ms, 2),
                                "infer_ms": round(r.infer_ms, 1), "peak_MiB": round(r.train_peak_MiB)}


def part_env(spec: Mapping[str, Any], rows: RowWriter) -> None:
    import torch

    with rows.case("environment", spec["device"]) as figures:
        figures.update({"torch": torch.__version__, "cuda": torch.version.cuda or "none",
                        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else "none"})
        if torch.cuda.is_available():
            figures.update({"gpu": torch.cuda.get_device_name(0),
                            "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
                            "nccl": ".".join(map(str, torch.cuda.nccl.version())),
                            "memory_GiB": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)})
        elif spec["device"].startswith("cuda"):
            raise RuntimeError("device=cuda but torch.cuda.is_available() is False")


PARTS: dict[str, Callable[[Mapping[str, Any], RowWriter], None]] = {
    "env": part_env, "train": part_train, "torchrun": part_torchrun, "eval": part_eval,
    "cuda_tests": part_cuda_tests, "peers": part_peers,
}


def main(argv: list[str]) -> None:
    """``python -m segfw.analysis.gpu_check_parts PART SPEC.json ROWS.jsonl``."""
    part, spec_path, rows_path = argv
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    PARTS[part](spec, RowWriter(Path(rows_path), part))


if __name__ == "__main__":
    main(sys.argv[1:])
