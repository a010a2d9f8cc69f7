"""Evaluation images/s on a validation set: the former defaults against the current ones, in turns.

    python tools/benchmark_eval.py                                   # fcn_r18 on the embedded synthetic set
    python tools/benchmark_eval.py test.mode=slide test.crop_size=[64,128] test.stride=[48,96] rounds=3

The keys are those of configs/train.yaml (model, dataset, test, device) and ``rounds``; the model has random
weights. ``--help`` lists them; the former ``--rounds 3`` still works, with a deprecation line. What "before" and "after" mean: ``segfw.analysis.eval_benchmark``.
"""

from __future__ import annotations

import os
import sys

import torch
from omegaconf import OmegaConf

from segfw.analysis.benchmark import build_benchmark_model
from segfw.analysis.eval_benchmark import format_eval_table, measure_evaluation
from segfw.cli import key_value_tool
from segfw.engine.data import build_split
from segfw.engine.device import resolve_device


@key_value_tool("benchmark_eval")
def main(cfg) -> None:
    device = resolve_device(cfg.device)
    dataset = build_split(cfg, "val")
    torch.manual_seed(cfg.seed)
    model = build_benchmark_model(OmegaConf.to_container(cfg.model, resolve=True), len(dataset.classes))
    test = OmegaConf.to_container(cfg.test, resolve=True)
    results = measure_evaluation(model, dataset, list(dataset.classes), device, test, cfg.rounds,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_eval_table(results))
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"\n{device}, {torch.get_num_threads()} threads{load}; {cfg.dataset.name} val, "
          f"model {OmegaConf.to_container(cfg.model.backbone)['name']} (random weights); medians of {cfg.rounds} rounds")


if __name__ == "__main__":
    main()
