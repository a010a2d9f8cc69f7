"""What the terminal says at the start and the end of a run, and the smoothed loss of the bar."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def start_banner(run_dir: Path, device: str, sizes: Mapping[str, int], params: int, resume: str) -> str:
    """Run folder, device, dataset size per split, parameter count and the command that resumes the run."""
    split_sizes = ", ".join(f"{split} {n}" for split, n in sizes.items())
    return "\n".join([
        f"run folder  {run_dir}",
        f"device      {device}",
        f"data        {split_sizes} images",
        f"model       {params / 1e6:.2f} M parameters",
        f"resume with {resume}",
    ])


def describe_device(device) -> str:
    """``cuda:0 (NVIDIA H100 80GB HBM3, 79 GiB)``, ``cpu (16 threads)``; ``× N processes`` under torchrun."""
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        text = f"{device} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    else:
        text = f"{device} ({torch.get_num_threads()} threads)"
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    return text + (f" × {world} processes" if world > 1 else "")


HYDRA_PLAIN = re.compile(r"[\w/.+@%~-]+")  # characters a Hydra value may hold without quotes


def hydra_value(text: str) -> str:
    """``text`` as a Hydra override value that parses back to the same string: as is when plain, else
    single-quoted (a quote, and backslashes before a quote or the closing quote, escaped)."""
    if HYDRA_PLAIN.fullmatch(text):
        return text
    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), text)
    return f"'{escaped}'"


def launcher(processes: int | None = None) -> list[str]:
    """How this process was started: ``["python"]``, or under torchrun ``["torchrun", "--nproc_per_node=N"]``
    (and ``--nnodes=M`` across machines); ``processes``: the per-node count to print instead of this launch's."""
    if processes is None and "TORCHELASTIC_RUN_ID" not in os.environ and "LOCAL_WORLD_SIZE" not in os.environ:
        return ["python"]
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    nodes = max(int(os.environ.get("WORLD_SIZE", local)) // max(local, 1), 1)
    per_node = local if processes is None else max(processes // nodes, 1)
    if per_node * nodes == 1 and processes is not None:
        return ["python"]
    return ["torchrun", *([f"--nnodes={nodes}"] if nodes > 1 else []), f"--nproc_per_node={per_node}"]


def resume_command(run_dir: Path, overrides: Sequence[str], processes: int | None = None) -> str:
    """The shell command that continues this run: the same launcher (torchrun and its process count; see
    :func:`launcher`), the same tool and this job's ``overrides`` (one job of a sweep: its own values), with
    ``run_dir=... resume=true``; shell-quoted, the run folder Hydra-quoted, so it pastes as it is."""
    kept = [o for o in overrides if not o.startswith(("run_dir=", "resume=", "hydra.", "hydra/", "-"))]
    tool = sys.argv[0] if sys.argv and sys.argv[0].endswith(".py") else "tools/train.py"
    return shlex.join([*launcher(processes), tool, *kept, f"run_dir={hydra_value(str(run_dir))}", "resume=true"])


def end_summary(best_name: str, best_value: float | None, best_iteration: int | None, run_dir: Path,
                best_checkpoint: Path, metrics_file: Path) -> str:
    """Best metric and its iteration, where best.pt and metrics.json are, and how to see the curves."""
    best = "n/a" if best_value is None else f"{best_value:.2f} at iteration {best_iteration}"
    return "\n".join([
        f"best {best_name}  {best}",
        f"best.pt      {best_checkpoint}",
        f"metrics      {metrics_file}",
        f"curves       tensorboard --logdir {shlex.quote(str(run_dir))}",
    ])


class SmoothedValue:
    """Exponential moving average, bias-corrected (the first values are not pulled towards 0)."""

    def __init__(self, beta: float = 0.9):
        self.beta, self.average, self.count = beta, 0.0, 0

    def update(self, value: float) -> float:
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * value
        return self.value

    @property
    def value(self) -> float:
        return self.average / (1 - self.beta**self.count) if self.count else float("nan")
