"""Benchmark every registered neck (context module) on deep feature maps and print Markdown tables.

    python tools/benchmark_modules.py                     # B=2, C=512 at 32², 64², 96², 128², every neck
    python tools/benchmark_modules.py --sizes 32 64 --channels 256 --repeats 1 --necks strip_attention non_local
    python tools/benchmark_modules.py --sizes 16 32 64 --necks lska non_local --plot docs/time.png   # + log-log plot

Each (neck, size) is measured in a fresh process (params, GFLOPs as 2×MAC, median fwd+bwd time, peak
memory), so one that runs out of memory or time is reported as such in the table instead of stopping
the run. What each number means: ``segfw.analysis.module_benchmark``.
"""

from __future__ import annotations

import argparse
import sys

from segfw.analysis.module_benchmark import (Setup, format_costs, format_ratios, measure_all, neck_names, plot_times,
                                             progress_line)
from segfw.cli import user_errors_as_one_line
from segfw.engine.device import resolve_device


def parse_args(argv: list[str] | None) -> tuple[list[str], list[int], Setup, str | None, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--necks", nargs="+", default=None, help="neck names (default: every registered neck)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 64, 96, 128], help="map sides H = W")
    parser.add_argument("--channels", type=int, default=512, help="input channels C")
    parser.add_argument("--batch", type=int, default=2, help="batch size B")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forward+backward runs")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward+backward runs (median)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per (neck, size)")
    parser.add_argument("--memory-limit-gib", type=float, default=None,
                        help="address-space limit of each measuring process (CPU runs on shared machines)")
    parser.add_argument("--plot", default=None, help="also write a log-log PNG of time vs H·W to this path")
    parser.add_argument("--in-process", action="store_true",
                        help="measure every case in this process (no per-case process start-up, time or memory limit)")
    args = parser.parse_args(argv)
    necks = neck_names(args.necks)
    setup = Setup(args.channels, args.batch, str(resolve_device(args.device)), args.warmup, args.repeats,
                  args.threads, args.memory_limit_gib, args.timeout)
    return necks, args.sizes, setup, args.plot, args.in_process


@user_errors_as_one_line
def main(argv: list[str] | None = None) -> None:
    necks, sizes, setup, plot, in_process = parse_args(argv)
    print(setup.describe(), flush=True)
    costs = measure_all(necks, sizes, setup,
                        report=lambda cost: print(progress_line(cost), file=sys.stderr, flush=True),
                        isolated=not in_process)
    print(format_costs(costs))
    print()
    print(format_ratios(costs))
    if plot:
        print(f"wrote {plot_times(costs, plot, setup.describe())}")


if __name__ == "__main__":
    main()
