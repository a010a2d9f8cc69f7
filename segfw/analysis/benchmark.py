"""Whole-model benchmark: parameters, GFLOPs, inference latency and throughput, training step time and memory.

- GFLOPs: :func:`segfw.analysis.flops.count_flops` on one image in eval mode (2×MAC of convolutions,
  matrix products and attention; see that module for what is and is not counted).
- Time: the median over ``repeats`` runs after ``warmup`` runs; on CUDA with ``torch.cuda.Event``
  pairs and a synchronize, on CPU with ``time.perf_counter``.
- Training memory: the peak of tensor memory during one training step (forward, losses, backward,
  SGD step) above what is live when the step starts (weights, optimizer state). CUDA:
  ``torch.cuda.max_memory_allocated``; CPU: the peak of ``torch.profiler``'s memory timeline
  (every tensor allocation it records; not the process RSS, which the allocator's caching distorts).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import OmegaConf

from segfw.analysis.flops import count_flops, count_parameters
from segfw.engine.device import memory_format, resolve_device
from segfw.errors import ConfigError
from segfw.models.segmentor import Segmentor, build_segmentor

MIB = 2**20


@dataclass
class BenchmarkResult:
    model: str
    device: str
    input: tuple[int, int]  # (H, W)
    batch_size: int
    params_M: float
    gflops: float  # per image, 2×MAC
    latency_ms: float  # inference, per batch
    images_per_s: float  # inference
    train_step_ms: float  # per batch
    train_peak_MiB: float


def build_benchmark_model(model_cfg: Mapping[str, Any], num_classes: int) -> Segmentor:
    """The segmentor of a ``model`` config node with random weights (``backbone.pretrained`` forced to null)."""
    node = copy.deepcopy(dict(model_cfg))
    node["backbone"]["pretrained"] = None
    return build_segmentor(node, num_classes)


def time_ms(fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> float:
    """Median wall time of ``fn()`` in milliseconds (CUDA events on CUDA, perf_counter on CPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        else:
            tic = time.perf_counter()
            fn()
            times.append((time.perf_counter() - tic) * 1000)
    return statistics.median(times)


def training_step(model: Segmentor, images: torch.Tensor, masks: torch.Tensor) -> Callable[[], None]:
    """One SGD step (forward, named losses, backward, update) as a closure."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = sum(model.losses(images, masks).values())
        loss.backward()
        optimizer.step()

    return step


def peak_step_memory_bytes(step: Callable[[], None], device: torch.device) -> int:
    """Peak tensor bytes during ``step()`` above those live when it starts (see the module docstring)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    return _cpu_peak_bytes(step)


def _cpu_peak_bytes(step: Callable[[], None]) -> int:
    """Peak of the profiler's tensor-memory timeline during ``step()``, above the tensors live before it.

    The timeline (the data behind ``torch.profiler``'s memory-timeline export) lists every CPU
    tensor allocation: PREEXISTING (live before, the baseline), CREATE and DESTROY.
    """
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        step()
    baseline = live = peak = 0
    for _time, action, _key, size in sorted(prof._memory_profile().timeline, key=lambda event: event[0]):
        if action == Action.PREEXISTING:
            baseline += size
        if action in (Action.PREEXISTING, Action.CREATE):
            live += size
        elif action == Action.DESTROY:
            live -= size
        peak = max(peak, live)
    return peak - baseline


def benchmark_model(
    model: Segmentor,
    name: str,
    input_size: Sequence[int],
    device: torch.device,
    batch_size: int = 2,
    warmup: int = 2,
    repeats: int = 5,
    channels_last: bool = True,
) -> BenchmarkResult:
    """Measure ``model`` (any K) at ``input_size`` (H, W) on ``device``, in the trainer's default NHWC layout
    (``channels_last=False``: NCHW); see the module docstring."""
    if len(input_size) != 2 or min(input_size) < 1 or batch_size < 1 or warmup < 0 or repeats < 1:
        raise ConfigError(f"benchmark needs input=[H,W] (got {list(input_size)}), batch_size >= 1 (got {batch_size}), "
                          f"warmup >= 0 (got {warmup}) and repeats >= 1 (got {repeats})")
    height, width = int(input_size[0]), int(input_size[1])
    layout = memory_format(channels_last)
    model = model.to(device, memory_format=layout)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, 3, height, width, generator=generator).to(device, memory_format=layout)
    flops, logits = count_flops(model, images[:1])
    masks = torch.randint(0, logits.shape[1], (batch_size, height, width), generator=generator).to(device)
    model.eval()
    with torch.no_grad():
        latency = time_ms(lambda: model(images), device, warmup, repeats)
    model.train()
    step = training_step(model, images, masks)
    step_ms = time_ms(step, device, warmup, repeats)
    peak = peak_step_memory_bytes(step, device)
    model.eval()
    return BenchmarkResult(
        model=name,
        device=str(device),
        input=(height, width),
        batch_size=batch_size,
        params_M=count_parameters(model) / 1e6,
        gflops=flops / 1e9,
        latency_ms=latency,
        images_per_s=batch_size / (latency / 1000),
        train_step_ms=step_ms,
        train_peak_MiB=peak / MIB,
    )


def legend(device: torch.device, repeats: int) -> str:
    """How the numbers of a result on ``device`` were measured, in one line."""
    timer = "CUDA events" if device.type == "cuda" else "perf_counter"
    memory = "torch.cuda.max_memory_allocated" if device.type == "cuda" else "torch.profiler memory timeline"
    return (f"GFLOPs: FlopCounterMode, 2×MAC, one image; times: median of {repeats} ({timer}); "
            f"train peak: tensor memory of one step above its start ({memory})")


def format_table(results: Sequence[BenchmarkResult]) -> str:
    """A Markdown table, one row per result."""
    header = ("model", "device", "input (H×W)", "batch", "params (M)", "GFLOPs/img (2×MAC)", "latency (ms)",
              "images/s", "train step (ms)", "train peak (MiB)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = (r.model, r.device, f"{r.input[0]}×{r.input[1]}", str(r.batch_size), f"{r.params_M:.2f}",
                 f"{r.gflops:.3g}", f"{r.latency_ms:.1f}", f"{r.images_per_s:.2f}", f"{r.train_step_ms:.1f}",
                 f"{r.train_peak_MiB:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def benchmark_preset(cfg: Mapping[str, Any], name: str) -> str:
    """``tools/benchmark.py``: the table of the ``model`` preset ``name`` at ``cfg.input``, and how it was measured."""
    device = resolve_device(cfg.device)
    model = build_benchmark_model(OmegaConf.to_container(cfg.model, resolve=True), cfg.num_classes)
    result = benchmark_model(model, name, cfg.input, device, cfg.batch_size, cfg.warmup, cfg.repeats, cfg.channels_last)
    layout = "NHWC" if cfg.channels_last else "NCHW"
    return f"{format_table([result])}\n{legend(device, cfg.repeats)}; layout {layout}"
