"""Shared test helpers: compose the real Hydra configs, with tiny data and models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def tiny_overrides(tmp: Path, **extra: str) -> list[str]:
    """Overrides for a seconds-long CPU run on a tiny synthetic set cached under ``tmp``."""
    values = {
        "device": "cpu",
        "model/backbone": "resnet18",
        "dataset.num_train": "4",
        "dataset.num_val": "2",
        "dataset.image_size": "[48,64]",
        "dataset.cache_dir": str(tmp / "cache"),
        "trainer.max_iters": "2",
        "trainer.eval_interval": "2",
        "trainer.batch_size": "2",
        "trainer.crop_size": "[32,32]",
        "trainer.num_workers": "0",
        "trainer.log_interval": "1",
        "trainer.num_vis_images": "1",
        "model.head.channels": "16",
        "model.aux_head.channels": "16",
        "run_dir": str(tmp / "run"),
    }
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


@pytest.fixture
def compose():
    """``compose(config_name, overrides)`` → the composed config, as the tools would see it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from segfw.config import register_schemas

    register_schemas()

    def run(config_name: str, overrides: list[str]):
        with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
            return hydra_compose(config_name=config_name, overrides=overrides)

    return run
