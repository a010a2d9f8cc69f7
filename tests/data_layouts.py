"""Tiny copies of the official dataset layouts, written on the fly (right folders and file names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (13, 14)  # H, W of every tiny image: room for all 172 COCO-Stuff raw ids

# Expected mappings, written out independently of segfw's own tables.
CITYSCAPES_EVALUATED = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}  # label id -> train id
COCO_UNUSED_CATEGORY_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}  # 1-based COCO ids without a class


def write_image(path: Path, size: tuple[int, int] = SIZE, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_label(path: Path, ids: np.ndarray, mode: str = "L") -> None:
    """Label ids as an 8-bit greyscale ("L") or palette ("P") PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(ids.astype(np.uint8), mode="L")
    if mode == "P":
        image = image.convert("P")
        image.putpalette(np.random.default_rng(1).integers(0, 256, 768, dtype=np.uint8).tolist())
    image.save(path)


def label_with(values: list[int], size: tuple[int, int] = SIZE, seed: int = 0) -> np.ndarray:
    """An (H, W) label holding every one of ``values`` (cycled, then shuffled)."""
    count = size[0] * size[1]
    assert len(values) <= count, "image too small to hold every id"
    flat = np.resize(np.asarray(values), count)
    return np.random.default_rng(seed).permutation(flat).reshape(size)


def make_ade20k(root: Path, raw_ids: list[int], counts=(("training", 2), ("validation", 1))) -> dict[str, np.ndarray]:
    """``root/ADEChallengeData2016/{images,annotations}/<split>/ADE_<split>_0000000i.{jpg,png}``; returns raw labels."""
    labels = {}
    for split, count in counts:
        tag = "train" if split == "training" else "val"
        for i in range(1, count + 1):
            name = f"ADE_{tag}_{i:08d}"
            base = root / "ADEChallengeData2016"
            write_image(base / "images" / split / f"{name}.jpg", seed=i)
            labels[name] = label_with(raw_ids, seed=i)
            write_label(base / "annotations" / split / f"{name}.png", labels[name])
    return labels


def cityscapes_name(city: str, i: int) -> str:
    return f"{city}_{i:06d}_000019"


def make_cityscapes(
    root: Path, raw_ids: list[int], suffix: str = "labelIds", splits=("train", "val")
) -> dict[str, np.ndarray]:
    """``root/leftImg8bit/<split>/<city>/*_leftImg8bit.png`` + ``root/gtFine/<split>/<city>/*_gtFine_<suffix>.png``."""
    labels = {}
    for split in splits:
        for city in ("aachen", "bremen") if split == "train" else ("frankfurt",):
            name = cityscapes_name(city, len(labels))
            write_image(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png", seed=len(labels))
            labels[name] = label_with(raw_ids, seed=len(labels))
            write_label(root / "gtFine" / split / city / f"{name}_gtFine_{suffix}.png", labels[name])
    return labels


def make_voc(root: Path, raw_ids: list[int], aug: bool = False) -> dict[str, np.ndarray]:
    """``root/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation}`` (+ the aug set)."""
    base = root / "VOCdevkit" / "VOC2012"
    splits = {"train": ["2007_000032", "2007_000039"], "val": ["2007_000033"]}
    if aug:
        splits["aug"] = ["2008_000002", "2007_000039"]  # one extra, one already in train: counted once
    labels = {}
    for split, names in splits.items():
        folder = "SegmentationClassAug" if split == "aug" else "SegmentationClass"
        for name in names:
            write_image(base / "JPEGImages" / f"{name}.jpg", seed=len(labels))
            labels[f"{folder}/{name}"] = label_with(raw_ids, seed=len(labels))
            write_label(base / folder / f"{name}.png", labels[f"{folder}/{name}"], mode="L" if aug else "P")
        (base / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return labels


def make_context(root: Path, raw_ids: list[int]) -> dict[str, np.ndarray]:
    """``root/VOCdevkit/VOC2010/{JPEGImages,SegmentationClassContext,ImageSets/SegmentationContext}``."""
    base = root / "VOCdevkit" / "VOC2010"
    labels = {}
    for split, names in {"train": ["2008_000002", "2008_000003"], "val": ["2008_000007"]}.items():
        for name in names:
            write_image(base / "JPEGImages" / f"{name}.jpg", seed=len(labels))
            labels[name] = label_with(raw_ids, seed=len(labels))
            write_label(base / "SegmentationClassContext" / f"{name}.png", labels[name])
        (base / "ImageSets" / "SegmentationContext").mkdir(parents=True, exist_ok=True)
        (base / "ImageSets" / "SegmentationContext" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return labels


def make_coco_stuff(root: Path, raw_ids: list[int], converted: bool) -> dict[str, np.ndarray]:
    """``root/images/{train2017,val2017}/*.jpg`` + ``root/annotations/<split>/*[_labelTrainIds].png``."""
    labels = {}
    suffix = "_labelTrainIds.png" if converted else ".png"
    for split, count in (("train2017", 2), ("val2017", 1)):
        for _ in range(count):
            name = f"{len(labels) + 9:012d}"
            write_image(root / "images" / split / f"{name}.jpg", seed=len(labels))
            labels[name] = label_with(raw_ids, seed=len(labels))
            write_label(root / "annotations" / split / f"{name}{suffix}", labels[name])
    return labels


FOLDER_CLASSES = ("background", "road", "car")


def make_folder(root: Path, counts: dict[str, int] | None = None, size: tuple[int, int] = (24, 32)) -> Path:
    """The folder layout: ``root/images/<split>/sNN.png``, ``root/masks/<split>/sNN.png`` (ids 0..2, every id in
    every mask), ``root/classes.txt``; ``counts``: images per split (default 2 train, 2 val)."""
    for split, count in (counts or {"train": 2, "val": 2}).items():
        for i in range(count):
            write_image(root / "images" / split / f"s{i:02d}.png", size, seed=i)
            write_label(root / "masks" / split / f"s{i:02d}.png", label_with(list(range(len(FOLDER_CLASSES))), size, seed=i))
    (root / "classes.txt").write_text("\n".join(FOLDER_CLASSES) + "\n")
    return root
