"""Base class of every dataset: pairs of (image file, label file) mapped to train ids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from segfw.data.errors import BadSampleError
from segfw.data.io import read_image, read_label

IGNORE_INDEX = 255


@dataclass(frozen=True)
class Sample:
    image: Path
    label: Path
    name: str


class SegmentationDataset(Dataset):
    """(image, label) pairs from disk.

    Subclasses set ``classes`` (K names), ``palette`` ((K, 3) uint8 colours) and implement
    :meth:`find_samples`; they may override :meth:`map_labels` (raw ids → train ids, 255 = ignore).

    ``__getitem__(i) -> {"image": (3, H, W) float32, "mask": (H, W) int64, "name": str}`` after
    ``transform`` (an albumentations pipeline ending in ``ToTensorV2``, or None for raw arrays).
    """

    classes: Sequence[str] = ()
    palette: np.ndarray | None = None

    def __init__(self, root: str | Path, split: str = "train", transform: Callable | None = None):
        self.root = Path(root).expanduser()
        self.split = split
        self.transform = transform
        self.samples: list[Sample] = self.find_samples()
        if not self.samples:
            raise BadSampleError(f"no samples found for split '{split}' under {self.root}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def find_samples(self) -> list[Sample]:
        raise NotImplementedError

    def map_labels(self, raw: np.ndarray) -> np.ndarray:
        """Raw label ids (H, W) → train ids (H, W) uint8, 255 = ignore. Identity by default."""
        return raw

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (H, W, 3) uint8 RGB and train-id label (H, W) uint8, checked against each other."""
        sample = self.samples[index]
        image = read_image(sample.image)
        label = self.map_labels(read_label(sample.label))
        if label.shape != image.shape[:2]:
            raise BadSampleError(
                f"{sample.label}: label is {label.shape[1]}x{label.shape[0]} but its image {sample.image.name} "
                f"is {image.shape[1]}x{image.shape[0]} (W x H); labels must match their image's size"
            )
        bad = np.unique(label[(label >= self.num_classes) & (label != IGNORE_INDEX)])
        if bad.size:
            raise BadSampleError(
                f"{sample.label}: label values {bad.tolist()[:10]} are outside 0..{self.num_classes - 1} "
                f"(and {IGNORE_INDEX} = ignore) for {self.num_classes} classes"
            )
        return image, label

    def __getitem__(self, index: int) -> dict:
        image, label = self.load(index)
        if self.transform is not None:
            out = self.transform(image=image, mask=label)
            image, label = out["image"], out["mask"]
        mask = torch.as_tensor(np.asarray(label), dtype=torch.int64) if not torch.is_tensor(label) else label.long()
        return {"image": image, "mask": mask, "name": self.samples[index].name}
