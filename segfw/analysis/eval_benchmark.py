"""Evaluation throughput (images/s) of one model on a validation set, under several settings, in turns.

A setting is the former defaults (``before``: NCHW, one image per forward pass, one window per
pass in slide mode, glibc malloc) or the current ones (``after``: NHWC, ``test.batch_size``
images per pass, ``test.window_batch`` crops per pass, malloc reuse). Each round evaluates the whole
set once per setting, so load on a shared machine hits all alike; the figure is the median of the
rounds. The confusion matrices of the settings agree (checked: equal up to argmax ties at float32
rounding).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from segfw.engine.cpu_allocator import set_cpu_allocator
from segfw.engine.data import build_eval_loader
from segfw.engine.device import memory_format
from segfw.engine.evaluator import evaluate

SETTINGS = {
    "before": {"channels_last": False, "batch_size": 1, "window_batch": 1, "allocator": "glibc"},
    "after": {"channels_last": True, "batch_size": None, "window_batch": None, "allocator": "reuse"},
}


@dataclass
class EvalThroughput:
    setting: str
    mode: str
    images: int
    seconds: float  # median over the rounds
    miou: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def measure_evaluation(model: nn.Module, dataset, classes: Sequence[str], device: torch.device,
                       test: Mapping[str, Any], rounds: int = 3,
                       progress: Callable[[str], None] = lambda line: None) -> list[EvalThroughput]:
    """Evaluate ``model`` on ``dataset`` with ``test`` (the inference protocol) under each of :data:`SETTINGS`."""
    runs = []
    for name, setting in SETTINGS.items():
        protocol = {**test, "batch_size": setting["batch_size"] or test.get("batch_size", 1),
                    "window_batch": setting["window_batch"] or test.get("window_batch", 8)}
        layout = memory_format(setting["channels_last"])
        runs.append((name, copy.deepcopy(model).to(device, memory_format=layout), protocol, setting["allocator"]))
    seconds: dict[str, list[float]] = {name: [] for name, *_ in runs}
    miou: dict[str, float] = {}
    for round_index in range(rounds):
        for name, net, protocol, allocator in runs:
            if device.type == "cpu":
                set_cpu_allocator(allocator)
            loader = build_eval_loader(dataset, 0, protocol["batch_size"])
            tic = time.perf_counter()
            summary = evaluate(net, loader, classes, device, protocol).summary
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds[name].append(time.perf_counter() - tic)
            miou[name] = summary["mIoU"]
        progress(f"round {round_index + 1}/{rounds}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()))
    return [EvalThroughput(name, test["mode"], len(dataset), statistics.median(seconds[name]), miou[name])
            for name, *_ in runs]


def format_eval_table(results: Sequence[EvalThroughput]) -> str:
    lines = ["| setting | test.mode | images | seconds | images/s | mIoU |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.setting} | {r.mode} | {r.images} | {r.seconds:.2f} | {r.images_per_s:.1f} | {r.miou:.2f} |")
    return "\n".join(lines)
