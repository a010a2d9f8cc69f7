"""Look at a pipeline by eye: a grid of augmented samples, each shown as image | label overlay.

Entry point: ``tools/browse_dataset.py dataset=NAME dataset.root=PATH augment=RECIPE n=16 output=FILE``.
Samples come through the loaders training and evaluation use (``segfw.engine.data``): split "train" shows
the first ``n`` samples a training run with ``seed`` draws, augmented as that run augments them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from segfw.atomic_write import atomic_write
from segfw.data.loader import SkippedSamples, shut_down_on_exit
from segfw.engine.data import build_eval_loader, build_split, train_stream
from segfw.errors import ConfigError
from segfw.output_guard import Inputs, guard_file
from segfw.visualize import make_grid, overlay, to_uint8_image


def display_config(cfg: DictConfig) -> DictConfig:
    """``cfg`` with the recipe's ``cfg.split`` steps less Normalize, so that samples come out as viewable uint8
    pixels."""
    steps = OmegaConf.to_container(cfg.augment, resolve=True).get(cfg.split, [])
    shown = OmegaConf.to_container(cfg, resolve=True)
    shown["augment"] = {cfg.split: [step for step in steps if step.get("name") != "Normalize"]}
    return OmegaConf.create(shown)


def sample_batches(dataset, cfg: DictConfig):
    """One-sample batches as training (split "train", seeded by ``cfg.seed``) or evaluation ("val") loads them."""
    workers = cfg.trainer.num_workers
    if cfg.split == "train":
        return train_stream(dataset, 1, workers, cfg.seed)
    return build_eval_loader(dataset, workers)


def sample_tile(image, mask, palette: np.ndarray, alpha: float) -> np.ndarray:
    """``image | overlay`` side by side (H, 2W + 2, 3) uint8; a mask of another size is shown resized (nearest)."""
    picture = to_uint8_image(image)
    ids = mask.numpy().astype(np.uint8)
    if ids.shape != picture.shape[:2]:
        ids = cv2.resize(ids, picture.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    gap = np.full((picture.shape[0], 2, 3), 255, dtype=np.uint8)
    return np.hstack([picture, gap, overlay(picture, ids, palette, alpha)])


def browse(cfg: DictConfig) -> Path:
    """Write a grid of ``cfg.n`` samples of ``cfg.dataset``'s ``cfg.split`` through the ``cfg.augment`` recipe to
    ``cfg.output``, checked against the dataset and existing files (``overwrite=true``) before any sample is read."""
    if cfg.split not in ("train", "val"):
        raise ConfigError(f"split must be train or val, got '{cfg.split}'")
    if cfg.n < 1:
        raise ConfigError(f"n must be at least 1, got {cfg.n}")
    dataset = build_split(display_config(cfg), cfg.split)
    output = guard_file(cfg.output, "output", Inputs().dataset(dataset), bool(cfg.get("overwrite")))
    skipped, tiles = SkippedSamples(), []
    with shut_down_on_exit(sample_batches(dataset, cfg)) as batches:
        flat = (batch for step in batches for batch in (step if isinstance(step, list) else [step]))
        for batch in skipped.filter(itertools.islice(flat, len(dataset))):  # one epoch at most
            tiles.append(sample_tile(batch["image"][0], batch["mask"][0], dataset.palette, cfg.alpha))
            if len(tiles) == cfg.n:
                break
    if not tiles:
        raise ConfigError(f"no usable samples in {dataset.title} split '{cfg.split}' ({skipped.summary()})")
    grid = Image.fromarray(make_grid(tiles, columns=cfg.columns))
    atomic_write(output, lambda tmp: grid.save(tmp, format=Image.registered_extensions().get(output.suffix.lower(), "PNG")))
    if len(skipped):
        print(skipped.summary())
    return output
