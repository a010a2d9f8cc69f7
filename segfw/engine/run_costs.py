"""What a training run cost, saved beside its metrics as ``costs.json`` (read by ``tools/compare.py``)."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import torch

CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak: CUDA's allocator statistics, or on Linux the process's RSS high-water mark
    (so that the jobs of one ``--multirun`` process each get their own peak)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif CLEAR_REFS.exists():
        try:
            CLEAR_REFS.write_text("5")
        except OSError:  # not permitted: the peak then covers the process's lifetime
            pass


def peak_memory_mib(device: torch.device) -> tuple[float, str]:
    """The peak memory in MiB since :func:`reset_peak_memory` and what it measures: CUDA tensor
    memory (``torch.cuda.max_memory_allocated``) on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10, "process_peak_rss"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10), "process_peak_rss"


def write_costs(run_dir: Path, train_seconds: float, iterations: int, device: torch.device) -> None:
    """``costs.json``: wall-clock seconds spent in training steps (evaluations excluded; on resume,
    this process's share only), the iterations they covered, and the peak memory."""
    memory, kind = peak_memory_mib(device)
    record = {"train_time_s": round(train_seconds, 3), "train_iterations": iterations, "peak_memory_MiB": round(memory, 1),
              "peak_memory_kind": kind, "device": str(device)}
    (run_dir / "costs.json").write_text(json.dumps(record, indent=2))
