"""``tools/gpu_check.py``: every GPU path of segfw in one call, each part in its own process under its own time limit.

The parts (:mod:`segfw.analysis.gpu_check_parts`) run one after another: the environment, training of each
preset in every precision × memory layout (eager, and compiled where asked), a one-process torchrun, whole
and slide + flip evaluation, the ``cuda``-marked tests and the peer benchmark. A part that fails or runs
past its limit is a row of the report (``failed`` / ``timeout``), never the end of the check; the rows it
wrote before are kept. The report is ``gpu_check.md`` (one Markdown table) and ``gpu_check.json`` (every
figure) in ``output``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from segfw.analysis.gpu_check_parts import RowWriter
from segfw.atomic_write import atomic_write
from segfw.errors import ConfigError
from segfw.output_guard import Inputs, guard_folder

FIGURE_COLUMNS = ("images_per_s", "ms_per_step", "peak_MiB", "mIoU")


def part_specs(cfg: Mapping[str, Any], work_dir: Path) -> list[tuple[str, str, dict]]:
    """(part, label, settings) of every part the check runs, in order."""
    common = {key: cfg[key] for key in ("device", "crop_size", "batch_size", "iters", "num_workers", "precisions",
                                        "layouts", "compile", "compile_settings", "overrides", "presets")}
    common.update(work_dir=str(work_dir), cache_dir=str(work_dir / "data"))
    limits = cfg["limits"]
    specs = [("env", "env", {**common, "limit_s": limits["env"]})]
    for preset in cfg["presets"]:
        compiled = cfg["compile"] and preset in cfg["compile_presets"]
        specs.append(("train", f"train {preset}", {**common, "preset": preset, "compile": compiled,
                                                   "limit_s": limits["train"]}))
    specs += [
        ("torchrun", "torchrun", {**common, "limit_s": limits["torchrun"]}),
        ("eval", "eval", {**common, "limit_s": limits["eval"]}),
        ("cuda_tests", "cuda tests", {**common, "limit_s": limits["cuda_tests"]}),
        ("peers", "peers", {**common, "peer_families": list(cfg["peer_families"]),
                            "peer_variants": list(cfg["peer_variants"]), "peer_repeats": cfg["peer_repeats"],
                            "limit_s": limits["peers"]}),
    ]
    return [spec for spec in specs if spec[0] in cfg["parts"]]


def run_part(part: str, label: str, spec: dict, log_dir: Path, rows_path: Path) -> None:
    """Run one part in a child process (its own process group), killed after ``spec['limit_s']`` seconds;
    its settings and its output are kept in ``log_dir``."""
    spec_path = log_dir / f"{label.replace(' ', '_')}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    command = [sys.executable, "-m", "segfw.analysis.gpu_check_parts", part, str(spec_path), str(rows_path)]
    rows = RowWriter(rows_path, part)
    log = open(log_dir / f"{label.replace(' ', '_')}.log", "w", encoding="utf-8")
    tic = time.perf_counter()
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        code = child.wait(timeout=spec["limit_s"])
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        rows.write(label, "", "timeout", time.perf_counter() - tic,
                   detail=f"killed after its limit of {spec['limit_s']} s (limits.{part}); log: {log.name}")
        return
    finally:
        log.close()
    if code != 0:
        tail = Path(log.name).read_text(encoding="utf-8").strip().splitlines()[-1:] or [""]
        rows.write(label, "", "failed", time.perf_counter() - tic, detail=f"exit {code}: {tail[0][:400]}")


def format_report(rows: Sequence[Mapping[str, Any]]) -> str:
    """One Markdown table: a row per case, the common figures in columns, the rest in the last column."""
    header = ("part", "case", "setting", "status", "s", *FIGURE_COLUMNS, "other figures / detail")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        figures = row["figures"]
        other = {k: v for k, v in figures.items() if k not in FIGURE_COLUMNS}
        notes = "; ".join(filter(None, [", ".join(f"{k}: {v}" for k, v in other.items()), row["detail"]]))
        cells = (row["part"], row["case"], row["setting"], row["status"], f"{row['seconds']:.1f}",
                 *(str(figures.get(key, "")) for key in FIGURE_COLUMNS), notes.replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_gpu_check(cfg: Mapping[str, Any], output: Path) -> tuple[str, list[dict]]:
    """Run the parts of ``cfg``; the report and the parts' logs go to ``output`` (a new or empty folder), the
    runs and the synthetic data to ``cfg['work_dir']`` (default: a temporary folder, removed at the end).
    Returns (table, rows)."""
    unknown = set(cfg["parts"]) - {"env", "train", "torchrun", "eval", "cuda_tests", "peers"}
    if unknown:
        raise ConfigError(f"parts: unknown part(s) {sorted(unknown)}; choose from env, train, torchrun, eval, "
                          "cuda_tests, peers")
    guard_folder(output, "output", Inputs(), ())  # a folder (not a file) that can be created and written
    if output.exists() and any(output.iterdir()):
        raise ConfigError(f"output={output} is not empty; name a new folder (the check never writes over a report)")
    log_dir = output / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(cfg["work_dir"] or tempfile.mkdtemp(prefix="segfw_gpu_check_"))
    rows_path = output / "rows.jsonl"
    rows_path.touch()
    started = time.perf_counter()
    try:
        for part, label, spec in part_specs(cfg, work_dir):
            print(f"[gpu_check {time.perf_counter() - started:6.0f} s] {label} (limit {spec['limit_s']} s)", flush=True)
            run_part(part, label, spec, log_dir, rows_path)
    finally:
        if not cfg["work_dir"]:
            shutil.rmtree(work_dir, ignore_errors=True)
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines() if line]
    table = format_report(rows)
    total = time.perf_counter() - started
    report = {"gpu_check.md": f"{table}\n\ntotal {total:.0f} s\n",
              "gpu_check.json": json.dumps({"total_s": round(total, 1), "rows": rows}, indent=1)}
    for name, text in report.items():
        atomic_write(output / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    return table, rows
