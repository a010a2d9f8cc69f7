"""Loader throughput of the protocol recipes on stand-in files in the real layouts (``tools/benchmark_data.py``).

The stand-ins have the real file formats and sizes (ADE20K: JPEG images with a 512-pixel short side and
PNG labels; Cityscapes: 2048x1024 PNG images and ``labelTrainIds`` PNGs) and smooth, blocky content that
compresses like photographs and label maps do, so decoding costs what it costs on the real data. They load
through what training uses: the dataset and recipe composed as ``tools/train.py`` composes them
(:func:`segfw.engine.data.build_split`) and the training batch stream (:func:`segfw.engine.data.train_stream`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig
from PIL import Image

from segfw.config import compose_config
from segfw.data.loader import shut_down_on_exit
from segfw.engine.data import build_split, build_train_stream


def fake_scene(rng: np.random.Generator, height: int, width: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo-like image (H, W, 3) uint8 (smooth colours + noise) and a blocky label (H, W) uint8."""
    coarse = rng.integers(0, 256, (height // 64 + 2, width // 64 + 2, 3), dtype=np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image.astype(np.int16) + rng.integers(-12, 13, image.shape, dtype=np.int16), 0, 255).astype(
        np.uint8
    )
    blocks = rng.integers(0, num_classes, (height // 48 + 1, width // 48 + 1), dtype=np.uint8)
    label = cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)
    return image, label


def write_ade20k(root: Path, count: int, seed: int = 0) -> Path:
    """``root/ADEChallengeData2016`` training split: JPEG images 512 pixels on the short side, PNG raw labels."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        width = int(rng.choice([512, 640, 683, 768]))
        image, label = fake_scene(rng, 512, width, 151)
        name = f"ADE_train_{i + 1:08d}"
        base = root / "ADEChallengeData2016"
        (base / "images" / "training").mkdir(parents=True, exist_ok=True)
        (base / "annotations" / "training").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(base / "images" / "training" / f"{name}.jpg", quality=90)
        Image.fromarray(label).save(base / "annotations" / "training" / f"{name}.png")
    return root


def write_cityscapes(root: Path, count: int, seed: int = 0) -> Path:
    """``root/{leftImg8bit,gtFine}/train/<city>``: 2048x1024 PNG images and ``labelTrainIds`` PNGs."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        image, label = fake_scene(rng, 1024, 2048, 19)
        name = f"aachen_{i:06d}_000019"
        (root / "leftImg8bit" / "train" / "aachen").mkdir(parents=True, exist_ok=True)
        (root / "gtFine" / "train" / "aachen").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "leftImg8bit" / "train" / "aachen" / f"{name}_leftImg8bit.png")
        Image.fromarray(label).save(root / "gtFine" / "train" / "aachen" / f"{name}_gtFine_labelTrainIds.png")
    return root


@dataclass(frozen=True)
class Setting:
    dataset: str
    recipe: str
    crop_size: tuple[int, int]
    write: object  # (root, count) -> root


SETTINGS = (
    Setting("ade20k", "ade20k", (512, 512), write_ade20k),
    Setting("cityscapes", "cityscapes_512x1024", (512, 1024), write_cityscapes),
)


def training_config(setting: Setting, root: Path, workers: int, batch_size: int) -> DictConfig:
    """``tools/train.py dataset=<dataset> dataset.root=<root> augment=<recipe> trainer.crop_size=...``."""
    height, width = setting.crop_size
    return compose_config("train", [
        f"dataset={setting.dataset}", f"dataset.root={root}", f"augment={setting.recipe}",
        f"trainer.crop_size=[{height},{width}]", f"trainer.batch_size={batch_size}", f"trainer.num_workers={workers}",
    ])


def images_per_second(setting: Setting, root: Path, workers: int, batch_size: int, batches: int) -> float:
    """Images per second of the training batch stream, timed over ``batches`` batches after one warm-up epoch
    that starts the workers and fills the page cache."""
    cfg = training_config(setting, root, workers, batch_size)
    dataset = build_split(cfg, "train")
    with shut_down_on_exit(build_train_stream(dataset, cfg)) as stream:
        for _ in itertools.islice(stream, len(dataset) // batch_size):  # warm-up
            pass
        start = time.perf_counter()
        seen = sum(batch["image"].shape[0] for batch in itertools.islice(stream, batches))
    return seen / (time.perf_counter() - start)
