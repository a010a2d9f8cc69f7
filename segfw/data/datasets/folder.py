"""Users' own data: ``root/images/<split>/*``, ``root/masks/<split>/*.png``, ``root/classes.txt``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from segfw.data.datasets.base import Sample, SegmentationDataset
from segfw.data.errors import BadSampleError
from segfw.registry import DATASETS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT = "root/images/<split>/*.{jpg,png}, root/masks/<split>/*.png (uint8 class ids, 255 = ignore), root/classes.txt"


def default_palette(num_classes: int) -> np.ndarray:
    """Distinct colours (K, 3) uint8, the PASCAL VOC bit-interleaving scheme."""
    palette = np.zeros((num_classes, 3), dtype=np.uint8)
    for k in range(num_classes):
        label, colour = k, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                colour[channel] |= ((label >> channel) & 1) << shift
            label >>= 3
        palette[k] = colour
    return palette


@DATASETS.register("folder")
class FolderDataset(SegmentationDataset):
    """Images and masks paired by file stem; class names from ``classes.txt`` (K = its line count)."""

    def __init__(self, root: str | Path, split: str = "train", transform: Callable | None = None):
        root = Path(root).expanduser()
        classes_file = root / "classes.txt"
        if not classes_file.is_file():
            raise BadSampleError(f"{classes_file}: not found. Expected layout: {LAYOUT}")
        self.classes = tuple(line.strip() for line in classes_file.read_text().splitlines() if line.strip())
        self.palette = default_palette(len(self.classes))
        super().__init__(root, split, transform)

    def find_samples(self) -> list[Sample]:
        image_dir, mask_dir = self.root / "images" / self.split, self.root / "masks" / self.split
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise BadSampleError(f"{folder}: split folder not found. Expected layout: {LAYOUT}")
        images = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        masks = {p.stem: p for p in sorted(mask_dir.glob("*.png"))}
        for stem in sorted(set(images) ^ set(masks)):
            missing = mask_dir / f"{stem}.png" if stem in images else image_dir / f"{stem}.jpg|.png"
            have = images.get(stem) or masks.get(stem)
            raise BadSampleError(f"{have}: has no matching {missing}; images and masks pair by file stem")
        return [Sample(images[s], masks[s], s) for s in sorted(images)]
