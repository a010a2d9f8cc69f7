"""Cost of one neck (context module) on a deep feature map, each measured in its own process, as Markdown tables.

Used by ``tools/benchmark_modules.py``. Each neck is built with the defaults of ``model/neck=<name>``
(``configs/model/neck/<name>.yaml``, composed as ``tools/train.py`` composes it) on C input channels and measured on a (B, C, size, size) map:

- params: parameters of the block;
- GFLOPs: forward of the whole batch, counted by :func:`segfw.analysis.flops.count_flops` (2×MAC of
  convolutions, matrix products and attention, the fused CPU attention kernel included);
- fwd+bwd: median wall time of forward + backward (train mode, input requiring grad) after warm-up;
- peak: peak tensor memory of one forward + backward above what is live before it, see
  :func:`segfw.analysis.benchmark.peak_step_memory_bytes`.

:func:`measure_isolated` runs each (neck, size) in a fresh process, so that one that runs out of memory
or time is reported as such (``NeckCost.failure``) instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing
import queue
import resource
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from segfw.analysis.benchmark import MIB, peak_step_memory_bytes, time_ms
from segfw.analysis.flops import count_flops, count_parameters
from segfw.config import compose_config
from segfw.engine.device import resolve_device
from segfw.models.feature_spec import FeatureSpec
from segfw.models.necks.level_neck import build_neck
from segfw.registry import NECKS



@dataclass(frozen=True)
class Setup:
    """What every measurement shares."""

    channels: int = 512
    batch: int = 2
    device: str = "cpu"
    warmup: int = 1
    repeats: int = 3
    threads: int | None = None  # CPU threads (None: PyTorch's default)
    memory_limit_gib: float | None = None  # address-space limit of each measuring process
    timeout: float = 600  # seconds per (neck, size)

    def describe(self) -> str:
        """The settings in one line, threads resolved to the count this process uses."""
        threads = self.threads or torch.get_num_threads()
        return (f"B={self.batch}, C={self.channels}, device={self.device}, threads={threads}, warmup={self.warmup}, "
                f"repeats={self.repeats}")


@dataclass
class NeckCost:
    neck: str
    size: int  # the map is size × size
    params: int = 0
    gflops: float = 0.0
    step_ms: float = 0.0
    peak_mib: float = 0.0
    failure: str | None = None  # why it could not be measured


def neck_names(names: Sequence[str] | None) -> list[str]:
    """``names`` checked against the registry (an unknown one fails listing the registered ones); None: all."""
    for name in names or []:
        NECKS.get(name)
    return list(names) if names else NECKS.names()


class _WithContext(torch.nn.Module):
    """A two-level block (e.g. ``asymmetric_non_local``) as a one-input module: ``block(x, context)`` with a
    fixed random context of ``channels`` at x's size (c4 of a dilated ResNet: half c5's width, its stride)."""

    def __init__(self, block: torch.nn.Module, channels: int):
        super().__init__()
        self.block, self.channels = block, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator(x.device).manual_seed(0)
        context = torch.randn(x.shape[0], self.channels, *x.shape[-2:], generator=gen, device=x.device, dtype=x.dtype)
        return self.block(x, context)


BENCH_NUM_CLASSES = 19  # for necks that classify (object_context's soft regions): Cityscapes' count


def build_neck_block(name: str, channels: int, stride: int = 8) -> torch.nn.Module:
    """The neck ``name`` with the defaults of ``model/neck=<name>``, on ``channels`` input channels of a
    stride-``stride`` level (c5 of an output-stride-8 backbone; c4 beside it with half the channels, as
    in a ResNet), built as the framework builds it. A neck that reads c4 as its second input
    (``context_level``) gets a fixed random c4 (see :class:`_WithContext`)."""
    node = OmegaConf.to_container(compose_config("train", [f"model/neck={name}"]).model.neck, resolve=True)
    context = max(channels // 2, 1)
    neck = build_neck(node, {"c4": FeatureSpec(context, stride), "c5": FeatureSpec(channels, stride)}, BENCH_NUM_CLASSES)
    return neck.block if neck.context_level is None else _WithContext(neck.block, context)


class _WithLevels(torch.nn.Module):
    """``block(x)`` for a block that also reads other levels (``context_levels``): fixed random maps of them."""

    def __init__(self, block: torch.nn.Module, levels: dict[str, torch.Tensor]):
        super().__init__()
        self.block, self.levels = block, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x, self.levels)


def measure(name: str, size: int, setup: Setup) -> NeckCost:
    """Cost of neck ``name`` on a (batch, channels, size, size) map, in this process."""
    if setup.threads:
        torch.set_num_threads(setup.threads)
    torch.manual_seed(0)
    device = resolve_device(setup.device)
    block = build_neck_block(name, setup.channels).to(device)
    x = torch.randn(setup.batch, setup.channels, size, size, device=device, requires_grad=True)
    if getattr(block, "context_levels", ()):
        block = _WithLevels(block, {level: torch.randn(setup.batch, setup.channels // 2, size, size, device=device)
                                    for level in block.context_levels})
    flops, _ = count_flops(block, x)
    block.train()

    def forward_backward() -> None:
        block.zero_grad(set_to_none=True)
        x.grad = None
        block(x).sum().backward()

    step_ms = time_ms(forward_backward, device, setup.warmup, setup.repeats)
    peak = peak_step_memory_bytes(forward_backward, device)
    return NeckCost(name, size, count_parameters(block), flops / 1e9, step_ms, peak / MIB)


def _limit_new_memory(gib: float) -> None:
    """Cap this process's address space at its current size + ``gib``: a larger allocation then fails here
    (reported as out of memory) instead of waking the machine's OOM killer."""
    with open("/proc/self/status") as status:
        current_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = current_kib * 1024 + int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _measure_into(results: multiprocessing.Queue, name: str, size: int, setup: Setup) -> None:
    results.put(None)  # starts the queue's feeder thread before any memory limit applies
    if setup.memory_limit_gib:
        _limit_new_memory(setup.memory_limit_gib)
    try:
        results.put(measure(name, size, setup))
    except (RuntimeError, MemoryError) as error:  # allocation failures: CPU allocator, CUDA OOM
        out_of_memory = isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "memory" in str(error)
        results.put(NeckCost(name, size, failure="out of memory" if out_of_memory else str(error).splitlines()[0]))


def measure_isolated(name: str, size: int, setup: Setup) -> NeckCost:
    """:func:`measure` in a fresh process; running out of time or memory becomes ``failure``."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_measure_into, args=(results, name, size, setup))
    worker.start()
    deadline = time.monotonic() + setup.timeout
    while True:
        alive = worker.is_alive()  # read before waiting, so a result sent just before exiting is not missed
        try:
            cost = results.get(timeout=1.0)
        except queue.Empty:
            cost = None
            if not alive:
                killed = worker.exitcode == -signal.SIGKILL
                why = "out of memory (killed)" if killed else f"crashed (exit code {worker.exitcode})"
                cost = NeckCost(name, size, failure=why)
            elif time.monotonic() > deadline:
                worker.kill()
                cost = NeckCost(name, size, failure=f"timeout (> {setup.timeout:.0f} s)")
        if cost is not None:  # None only says that the worker started
            break
    worker.join()
    return cost


def measure_all(necks: Sequence[str], sizes: Sequence[int], setup: Setup,
                report: Callable[[NeckCost], None] = lambda cost: None, isolated: bool = True) -> list[NeckCost]:
    """:func:`measure_isolated` (``isolated=False``: :func:`measure`, all in this process, no time or memory
    limit) for every size, then every neck; ``report`` sees each cost as it comes.

    Returns the costs ordered by neck (in ``necks`` order), then size (ascending).
    """
    costs = []
    for size in sizes:
        for name in necks:
            cost = measure_isolated(name, size, setup) if isolated else measure(name, size, setup)
            report(cost)
            costs.append(cost)
    return sorted(costs, key=lambda c: (list(necks).index(c.neck), c.size))


def progress_line(cost: NeckCost) -> str:
    """``  <neck> at <size>²: <ms> ms`` or the failure."""
    return f"  {cost.neck} at {cost.size}²: {cost.failure or f'{cost.step_ms:.0f} ms'}"


def format_costs(costs: Sequence[NeckCost]) -> str:
    """One Markdown row per (neck, size)."""
    lines = ["| neck | map | params (M) | GFLOPs fwd (2×MAC) | fwd+bwd (ms) | peak (MiB) |", "|" + "---|" * 6]
    for c in costs:
        cells = [c.failure] * 4 if c.failure else [
            f"{c.params / 1e6:.3f}", f"{c.gflops:.3g}", _number(c.step_ms), _number(c.peak_mib)]
        lines.append(f"| {c.neck} | {c.size}² | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def format_ratios(costs: Sequence[NeckCost], dear: str = "non_local", cheap: str = "strip_attention") -> str:
    """Per size, how many times ``dear`` costs what ``cheap`` costs (GFLOPs, time, peak memory)."""
    by_key = {(c.neck, c.size): c for c in costs}
    lines = [f"| map | {dear} / {cheap}: GFLOPs | fwd+bwd time | peak memory |", "|---|---|---|---|"]
    for size in sorted({c.size for c in costs}):
        a, b = by_key.get((dear, size)), by_key.get((cheap, size))
        if a is None or b is None:
            continue
        if a.failure or b.failure:
            cells = [f"n/a ({dear}: {a.failure or 'ok'}, {cheap}: {b.failure or 'ok'})"] * 3
        else:
            cells = [f"{a.gflops / b.gflops:.1f}×", f"{a.step_ms / b.step_ms:.1f}×",
                     f"{a.peak_mib / b.peak_mib:.1f}×"]
        lines.append(f"| {size}² | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_times(costs: Sequence[NeckCost], path: str | Path, title: str = "") -> Path:
    """A log-log PNG of fwd+bwd time against the pixel count H·W, one line per neck (failures left out),
    with dotted O(H·W) and O((H·W)²) guides through the first neck's smallest map. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [c for c in costs if not c.failure and c.step_ms > 0]
    figure, axes = plt.subplots(figsize=(7, 5))
    for index, neck in enumerate(dict.fromkeys(c.neck for c in measured)):
        points = sorted((c.size**2, c.step_ms) for c in measured if c.neck == neck)
        axes.plot(*zip(*points), marker="os^"[index // 10 % 3], linestyle=("-", "--", "-.")[index // 10 % 3], label=neck)
    if measured:
        pixels = sorted({c.size**2 for c in measured})
        first = min(measured, key=lambda c: c.size)
        for power, label in ((1, "∝ H·W"), (2, "∝ (H·W)²")):
            axes.plot(pixels, [first.step_ms * (p / first.size**2) ** power for p in pixels], "k:", lw=0.8)
            axes.annotate(label, (pixels[-1], first.step_ms * (pixels[-1] / first.size**2) ** power), fontsize=8)
    axes.set(xscale="log", yscale="log", xlabel="pixels H·W of the feature map", ylabel="fwd+bwd time (ms)",
             title=title)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
