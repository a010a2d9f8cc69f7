"""Look at a pipeline by eye: a grid of augmented samples, each shown as image | label overlay.

Entry point: ``tools/browse_dataset.py dataset=NAME dataset.root=PATH augment=RECIPE n=16 output=FILE``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from segfw.data.loader import SkippedSamples, build_loader, shut_down_on_exit
from segfw.data.transforms import build_transforms
from segfw.errors import ConfigError
from segfw.registry import DATASETS
from segfw.visualize import make_grid, overlay, to_uint8_image


def display_steps(cfg: DictConfig, split: str) -> list:
    """The recipe's ``split`` steps without Normalize, so that samples come out as viewable uint8 pixels."""
    steps = OmegaConf.to_container(cfg.augment, resolve=True).get(split, [])
    return [step for step in steps if step.get("name") != "Normalize"]


def sample_tile(image, mask, palette: np.ndarray, alpha: float) -> np.ndarray:
    """``image | overlay`` side by side (H, 2W + 2, 3) uint8; a mask of another size is shown resized (nearest)."""
    picture = to_uint8_image(image)
    ids = mask.numpy().astype(np.uint8)
    if ids.shape != picture.shape[:2]:
        ids = cv2.resize(ids, picture.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    gap = np.full((picture.shape[0], 2, 3), 255, dtype=np.uint8)
    return np.hstack([picture, gap, overlay(picture, ids, palette, alpha)])


def browse(cfg: DictConfig) -> Path:
    """Write a grid of ``cfg.n`` samples of ``cfg.dataset``'s ``cfg.split`` through the ``cfg.augment`` recipe."""
    if cfg.split not in ("train", "val"):
        raise ConfigError(f"split must be train or val, got '{cfg.split}'")
    if cfg.n < 1:
        raise ConfigError(f"n must be at least 1, got {cfg.n}")
    transform = build_transforms({cfg.split: display_steps(cfg, cfg.split)}, cfg.split)
    node = OmegaConf.to_container(cfg.dataset, resolve=True)
    dataset = DATASETS.build(node, split=cfg.split, transform=transform)
    loader = build_loader(dataset, batch_size=1, shuffle=True, num_workers=cfg.trainer.num_workers, seed=cfg.seed)
    skipped, tiles = SkippedSamples(), []
    with shut_down_on_exit(loader) as batches:
        for batch in skipped.filter(batches):
            tiles.append(sample_tile(batch["image"][0], batch["mask"][0], dataset.palette, cfg.alpha))
            if len(tiles) == cfg.n:
                break
    if not tiles:
        raise ConfigError(f"no usable samples in {dataset.title} split '{cfg.split}' ({skipped.summary()})")
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_grid(tiles, columns=cfg.columns)).save(output)
    if len(skipped):
        print(skipped.summary())
    return output
