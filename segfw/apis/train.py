"""``tools/train.py``: one training job from a composed ``train`` config."""

from __future__ import annotations

from omegaconf import DictConfig

from segfw.apis.run import command_line_overrides
from segfw.engine import distributed as dist_utils
from segfw.engine.device import resolve_device
from segfw.engine.trainer import Trainer


def train(cfg: DictConfig) -> dict:
    """Run the training job ``cfg`` describes (under torchrun: this process's share); returns the final metrics."""
    device = resolve_device(cfg.device, dist_utils.local_rank())
    dist_utils.init_distributed(device)
    try:
        return Trainer(cfg, device, command_line_overrides()).run()
    finally:
        dist_utils.shutdown_distributed()
