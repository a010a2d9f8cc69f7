"""segfw against torchvision and segmentation_models_pytorch on the same architectures, in one process.

    python tools/benchmark_peers.py                                    # FCN, DeepLabV3, PSPNet, UPerNet (R50)
    python tools/benchmark_peers.py families=[deeplabv3_r50] input=[256,256] repeats=5

Contenders take turns (one training step each per round, then one inference forward each), so load on
a shared machine hits all alike; figures are medians over the rounds. What each column means:
``segfw.analysis.peer_benchmark``. segmentation_models_pytorch rows need ``pip install segfw[bench]``.
``--help`` lists the keys; the former ``--families a b`` spellings still work, with a deprecation line.
"""

from __future__ import annotations

import os
import sys

import torch

from segfw.analysis.peer_benchmark import build_contenders, format_peer_table, run_peer_benchmark
from segfw.cli import key_value_tool
from segfw.engine.device import resolve_device


@key_value_tool("benchmark_peers")
def main(args) -> None:
    device = resolve_device(args.device)
    contenders = build_contenders(list(args.families), args.classes, device, list(args.variants))
    results, peaks = run_peer_benchmark(contenders, args.classes, list(args.input), args.batch, device, args.warmup,
                                        args.repeats, memory=args.memory,
                                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_peer_table(results))
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"\n{device}, {torch.get_num_threads()} threads{load}; input {args.input[0]}×{args.input[1]}, batch "
          f"{args.batch}, K = {args.classes}; medians of {args.repeats} alternating rounds; matmul peak "
          + ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in peaks.items()))


if __name__ == "__main__":
    main()
