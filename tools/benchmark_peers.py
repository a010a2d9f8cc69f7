"""segfw against torchvision and segmentation_models_pytorch on the same architectures, in one process.

    python tools/benchmark_peers.py                                    # FCN, DeepLabV3, PSPNet, UPerNet (R50)
    python tools/benchmark_peers.py --families deeplabv3_r50 --input 256 256 --repeats 5

Contenders take turns (one training step each per round, then one inference forward each), so load on
a shared machine hits all alike; figures are medians over the rounds. What each column means:
``segfw.analysis.peer_benchmark``. segmentation_models_pytorch rows need ``pip install segfw[bench]``.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from segfw.analysis.peer_benchmark import FAMILIES, build_contenders, format_peer_table, run_peer_benchmark
from segfw.cli import user_errors_as_one_line
from segfw.engine.device import resolve_device


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), help=f"any of {', '.join(FAMILIES)}")
    parser.add_argument("--variants", nargs="+", default=["default", "nchw", "bf16"],
                        help="segfw settings: default (NHWC fp32, malloc reuse, tap-sum weight gradient of dilated "
                             "convs), nchw (default in NCHW, glibc malloc), dense_wgrad (default with oneDNN's dense "
                             "weight gradient), bf16 (+ bf16 autocast), checkpointing (+ activation checkpointing "
                             "of backbone and head)")
    parser.add_argument("--input", nargs=2, type=int, default=[256, 256], metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=2, help="images per step (BatchNorm needs 2 to train)")
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (the median is reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the (slow on CPU) peak-memory step")
    return parser.parse_args(argv)


@user_errors_as_one_line
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = resolve_device(args.device)
    contenders = build_contenders(args.families, args.classes, device, args.variants)
    results, peaks = run_peer_benchmark(contenders, args.classes, args.input, args.batch, device, args.warmup,
                                        args.repeats, memory=not args.no_memory,
                                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_peer_table(results))
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"\n{device}, {torch.get_num_threads()} threads{load}; input {args.input[0]}×{args.input[1]}, batch "
          f"{args.batch}, K = {args.classes}; medians of {args.repeats} alternating rounds; matmul peak "
          + ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in peaks.items()))


if __name__ == "__main__":
    main()
