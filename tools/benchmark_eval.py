"""Evaluation images/s on a validation set: the former defaults against the current ones, in turns.

    python tools/benchmark_eval.py                                   # fcn_r18 on the embedded synthetic set
    python tools/benchmark_eval.py test.mode=slide test.crop_size=[64,128] test.stride=[48,96] --rounds 3

Positional arguments are overrides of configs/train.yaml (model, dataset, test, device); the model has
random weights. What "before" and "after" mean: ``segfw.analysis.eval_benchmark``.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from omegaconf import OmegaConf

from segfw.analysis.benchmark import build_benchmark_model
from segfw.analysis.eval_benchmark import format_eval_table, measure_evaluation
from segfw.cli import user_errors_as_one_line
from segfw.config import compose_config
from segfw.engine.data import build_split
from segfw.engine.device import resolve_device


@user_errors_as_one_line
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="overrides of configs/train.yaml, e.g. model=fcn_r50")
    parser.add_argument("--rounds", type=int, default=3, help="evaluations of the whole set per setting (median)")
    args = parser.parse_args(argv)
    cfg = compose_config("train", args.overrides)
    device = resolve_device(cfg.device)
    dataset = build_split(cfg, "val")
    torch.manual_seed(cfg.seed)
    model = build_benchmark_model(OmegaConf.to_container(cfg.model, resolve=True), len(dataset.classes))
    test = OmegaConf.to_container(cfg.test, resolve=True)
    results = measure_evaluation(model, dataset, list(dataset.classes), device, test, args.rounds,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_eval_table(results))
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"\n{device}, {torch.get_num_threads()} threads{load}; {cfg.dataset.name} val, "
          f"model {OmegaConf.to_container(cfg.model.backbone)['name']} (random weights); medians of {args.rounds} rounds")


if __name__ == "__main__":
    main()
