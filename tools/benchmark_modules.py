"""Benchmark every registered neck (context module) on deep feature maps and print Markdown tables.

    python tools/benchmark_modules.py                     # B=2, C=512 at 32², 64², 96², 128², every neck
    python tools/benchmark_modules.py sizes=[32,64] channels=256 repeats=1 necks=[strip_attention,non_local]
    python tools/benchmark_modules.py sizes=[16,32,64] necks=[lska,non_local] plot=docs/time.png   # + log-log plot

Each (neck, size) is measured in a fresh process (params, GFLOPs as 2×MAC, median fwd+bwd time, peak
memory), so one that runs out of memory or time is reported as such in the table instead of stopping
the run. What each number means: ``segfw.analysis.module_benchmark``. ``--help`` lists the keys; the former
``--sizes 32 64`` spellings still work, with a deprecation line.
"""

from __future__ import annotations

import sys

from segfw.analysis.module_benchmark import (Setup, format_costs, format_ratios, measure_all, neck_names, plot_times,
                                             progress_line)
from segfw.cli import key_value_tool
from segfw.engine.device import resolve_device


@key_value_tool("benchmark_modules")
def main(args) -> None:
    setup = Setup(args.channels, args.batch, str(resolve_device(args.device)), args.warmup, args.repeats,
                  args.threads, args.memory_limit_gib, args.timeout)
    necks = neck_names(None if args.necks is None else list(args.necks))
    print(setup.describe(), flush=True)
    costs = measure_all(necks, list(args.sizes), setup,
                        report=lambda cost: print(progress_line(cost), file=sys.stderr, flush=True),
                        isolated=not args.in_process)
    print(format_costs(costs))
    print()
    print(format_ratios(costs))
    if args.plot:
        print(f"wrote {plot_times(costs, args.plot, setup.describe())}")


if __name__ == "__main__":
    main()
