"""Base class of every dataset: pairs of (image file, label file) mapped to train ids.

Contract of ``__getitem__(i)`` (after ``transform``, see ``segfw.data.transforms.build_transforms``)::

    {"image": (3, H, W) float32 tensor, "mask": (H, W) int64 tensor, "name": str}

Mask values are train ids 0..K-1 and ``ignore_index`` (default :data:`segfw.constants.IGNORE_INDEX`, the
config's top-level ``ignore_index``) for pixels neither trained on nor scored.

Training pipelines transform image and mask alike, so both have the crop size. Validation pipelines
(``build_transforms(..., "val")``) touch the image only: there ``mask`` keeps the label's ORIGINAL
resolution while ``image`` may be resized (e.g. ADE20K to fit (2048, 512)); the evaluator resizes its
predictions to the mask's size before scoring.

Bad files raise :class:`BadSampleError` with one line naming the file and what was expected. With
``on_bad_sample="skip"`` a bad sample is returned as :class:`SkippedSample` instead, and the loader's
collate function drops and reports it (see ``segfw.data.loader``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from segfw.constants import IGNORE_INDEX
from segfw.data.io import exif_orientation, read_image, read_label
from segfw.errors import BadSampleError, ConfigError, SkippedSample
INVALID = -1  # label table entry of a raw id the dataset does not define
BAD_SAMPLE_POLICIES = ("fail", "skip")
MISSING = {
    (True, True): None,
    (True, False): "label",
    (False, True): "image",
    (False, False): "both",
}  # by (image?, label?)


@dataclass(frozen=True)
class Sample:
    """Where a sample's files are (or should be); ``missing`` says which of them is absent on disk."""

    image: Path
    label: Path
    name: str
    missing: str | None = None  # None, "image", "label" or "both"

    def problem(self) -> str | None:
        """One line describing a missing file, or None when both exist."""
        if self.missing == "label":
            return f"{self.image}: image has no label; expected {self.label}"
        if self.missing == "image":
            return f"{self.label}: label has no image; expected {self.image}"
        if self.missing == "both":
            return f"{self.image}: listed in the split file, but neither it nor its label {self.label} exists"
        return None


@dataclass(frozen=True)
class Listing:
    """What :meth:`SegmentationDataset.find_samples` found on disk: the split's samples and, where a dataset
    reads one of several label formats or sample lists, which one it chose (e.g. Cityscapes ``"labelIds"``)."""

    samples: list[Sample]
    variant: str = ""


def by_stem(paths: Iterable[Path], what: str = "files") -> dict[str, Path]:
    """``paths`` keyed by file stem; two files with one stem (``s03.jpg`` and ``s03.png``) raise BadSampleError."""
    found: dict[str, Path] = {}
    for path in sorted(paths):
        if path.stem in found:
            raise BadSampleError(
                f"{found[path.stem]} and {path.name}: two {what} named '{path.stem}'; one would be dropped or "
                "overwritten, so remove or rename one of them"
            )
        found[path.stem] = path
    return found


def index_files(folder: Path, pattern: str, suffix: str) -> dict[str, Path]:
    """Files under ``folder`` matching ``pattern`` (a glob), keyed by file name without ``suffix``."""
    return {path.name[: len(path.name) - len(suffix)]: path for path in sorted(folder.glob(pattern))}


def pair_samples(
    images: Mapping[str, Path],
    labels: Mapping[str, Path],
    expected_image: Callable[[str], Path],
    expected_label: Callable[[str], Path],
    names: Iterable[str] | None = None,
) -> list[Sample]:
    """Samples for ``names`` (default: every key of ``images`` or ``labels``), paired by key.

    A side that does not exist gets its expected path and is recorded in ``Sample.missing``.
    """
    samples = []
    for name in sorted(set(images) | set(labels)) if names is None else names:
        image, label = images.get(name), labels.get(name)
        missing = MISSING[(image is not None, label is not None)]
        samples.append(Sample(image or expected_image(name), label or expected_label(name), name, missing))
    return samples


def prefer_converted(images: Mapping[str, Path], converted: Mapping[str, Path], raw: Mapping[str, Path]) -> bool:
    """Read converted labels (e.g. ``*_labelTrainIds.png``) when every image has one or no raw labels exist."""
    return set(images) <= set(converted) or not raw


def label_table(mapping: Mapping[int, int], ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """(256,) int16 table raw id → train id from ``mapping``, other ids INVALID.

    ``mapping`` speaks the label files' convention, 255 = ignore (as a raw id and as a train id); the table
    writes ``ignore_index`` for both, so a dataset's masks carry the configured ignore label."""
    table = np.full(256, INVALID, dtype=np.int16)
    for raw, train in mapping.items():
        # a negative raw id (Cityscapes' -1) is stored as its uint8 value
        table[raw % 256] = ignore_index if train == IGNORE_INDEX else train
    table[IGNORE_INDEX] = ignore_index
    return table


def describe_ids(ids: Iterable[int]) -> str:
    """Sorted ids as ranges: ``[0, 1, 2, 5, 255]`` → ``"0..2, 5, 255"``."""
    ids = sorted(ids)
    parts, start = [], None
    for i, value in enumerate(ids):
        start = value if start is None else start
        if i + 1 == len(ids) or ids[i + 1] != value + 1:
            parts.append(str(value) if start == value else f"{start}..{value}")
            start = None
    return ", ".join(parts)


def apply_label_table(raw: np.ndarray, table: np.ndarray, path: Path | str, title: str) -> np.ndarray:
    """Raw ids (H, W) → train ids (H, W) uint8 through ``table`` (see :func:`label_table`).

    Raw ids the table marks INVALID raise a BadSampleError naming ``path``, the values and the valid ids.
    """
    raw = np.asarray(raw)
    if raw.dtype == np.uint8:
        mapped = table[raw]
    else:  # 16-bit or signed ids: anything outside 0..255 is invalid
        inside = (raw >= 0) & (raw < len(table))
        mapped = np.where(inside, table[np.where(inside, raw, 0)], INVALID)
    invalid = mapped == INVALID
    if invalid.any():
        bad = np.unique(raw[invalid])
        shown = ", ".join(map(str, bad[:10].tolist())) + (", ..." if bad.size > 10 else "")
        valid = describe_ids(np.flatnonzero(table != INVALID).tolist())
        raise BadSampleError(f"{path}: label values {shown} are not {title} ids (expected {valid})")
    return mapped.astype(np.uint8)


def checked_ignore_index(ignore_index: int, num_classes: int, title: str) -> int:
    """``ignore_index`` if it is a mask value that names no class (K..255), else a ConfigError."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int) or not num_classes <= ignore_index <= 255:
        raise ConfigError(
            f"ignore_index={ignore_index} is not a free label of {title} (classes are 0..{num_classes - 1}); "
            f"set ignore_index to a value in {num_classes}..255"
        )
    return ignore_index


class SegmentationDataset(Dataset):
    """(image, label) pairs from disk; see the module docstring for the item contract.

    Subclasses set ``classes`` (K names), ``palette`` ((K, 3) uint8), ``title`` and ``layout`` (for
    messages), ``splits`` (framework split name → official folder name, e.g. ``{"train": "training"}``),
    implement :meth:`find_samples`, and override :meth:`raw_to_train` when raw ids are not train ids.
    The base class stores what ``find_samples`` returns as ``listing``; nothing else changes the dataset.
    """

    classes: Sequence[str] = ()
    palette: np.ndarray | None = None
    title: str = "dataset"
    layout: str = ""
    splits: Mapping[str, str] = {}
    channels: int = 3  # image channels C

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable | None = None,
        on_bad_sample: str = "fail",
        ignore_index: int = IGNORE_INDEX,
    ):
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigError(f"dataset.on_bad_sample must be one of {BAD_SAMPLE_POLICIES}, got '{on_bad_sample}'")
        self.ignore_index = checked_ignore_index(ignore_index, self.num_classes, self.title)
        self.root = Path(root).expanduser()
        self.split = self.official_split(split)
        self.transform = transform
        self.on_bad_sample = on_bad_sample
        if not self.root.is_dir():
            raise BadSampleError(f"{self.root}: dataset root not found (dataset.root). Expected layout: {self.layout}")
        self.listing: Listing = self.find_samples()
        if not self.samples:
            raise BadSampleError(f"{self.root}: no samples for split '{self.split}'. Expected layout: {self.layout}")
        self.table = label_table(self.raw_to_train(), self.ignore_index)  # for the listing's label variant
        problems = [s.problem() for s in self.samples if s.missing]
        if problems and on_bad_sample == "fail":
            more = f" (and {len(problems) - 1} more unpaired files)" if len(problems) > 1 else ""
            raise BadSampleError(problems[0] + more)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def official_split(self, split: str) -> str:
        """The on-disk split name for ``split`` ("train"/"val" or an official name)."""
        if not self.splits or split in self.splits.values():
            return split
        if split in self.splits:
            return self.splits[split]
        names = sorted(set(self.splits) | set(self.splits.values()))
        raise ConfigError(f"{self.title} has no split '{split}'; use one of: {', '.join(names)}")

    def require(self, path: Path, what: str) -> Path:
        """``path`` if it exists, else a BadSampleError naming it and the expected layout."""
        if not path.exists():
            raise BadSampleError(f"{path}: {what} not found. Expected layout: {self.layout}")
        return path

    def locate(self, candidates: Sequence[str], marker: str) -> Path:
        """The first of ``root/candidate`` that contains ``marker`` (lets dataset.root name the folder or a parent)."""
        for candidate in candidates:
            if (self.root / candidate / marker).exists():
                return self.root / candidate
        looked = ", ".join(str(self.root / c / marker) for c in candidates)
        raise BadSampleError(
            f"{self.root}: no {self.title} found (looked for {looked}). Expected layout: {self.layout}"
        )

    @property
    def samples(self) -> list[Sample]:
        return self.listing.samples

    def find_samples(self) -> Listing:
        """The split's samples (and the variant of its files) as found under ``root``; changes nothing."""
        raise NotImplementedError

    def raw_to_train(self) -> Mapping[int, int]:
        """Raw label id → train id, 255 = ignore (:func:`label_table` writes ``ignore_index`` there), for the label
        files of ``self.listing``. Default: ids 0..K-1 are train ids. Raw 255 is always ignore."""
        return {k: k for k in range(self.num_classes)}

    def map_labels(self, raw: np.ndarray, path: Path | str = "label") -> np.ndarray:
        """Raw ids (H, W) → train ids (H, W) uint8; raw ids the dataset does not define raise BadSampleError."""
        return apply_label_table(raw, self.table, path, self.title)

    def encode_prediction(self, train_ids: np.ndarray) -> np.ndarray:
        """Predicted train ids (H, W) uint8 → the label ids of the dataset's official format. Default: identity."""
        return train_ids

    def prediction_filename(self, name: str) -> str:
        """File name (relative to the predictions folder) of sample ``name``'s prediction PNG."""
        return f"{name}.png"

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (H, W, C) (RGB uint8 for C = 3, see :func:`read_image`) and train-id label (H, W) uint8,
        checked against each other."""
        sample = self.samples[index]
        if sample.missing:
            raise BadSampleError(sample.problem())
        image = read_image(sample.image, self.channels)
        raw = read_label(sample.label)
        if raw.shape != image.shape[:2]:
            orientation = exif_orientation(sample.image)
            rotated = (
                f" after applying its EXIF orientation {orientation} (the photo is rotated/mirrored when shown;"
                " the label must match the image as shown)" if orientation != 1 else ""
            )
            raise BadSampleError(
                f"{sample.label}: label is {raw.shape[1]}x{raw.shape[0]} but its image {sample.image.name} "
                f"is {image.shape[1]}x{image.shape[0]} (W x H){rotated}; a label must have its image's size"
            )
        return image, self.map_labels(raw, sample.label)

    def __getitem__(self, index: int) -> dict | SkippedSample:
        try:
            image, label = self.load(index)
        except BadSampleError as error:
            if self.on_bad_sample == "skip":
                return SkippedSample(str(error))
            raise
        if self.transform is not None:
            out = self.transform(image=image, mask=label)
            image, label = out["image"], out["mask"]
        mask = label.long() if torch.is_tensor(label) else torch.as_tensor(np.asarray(label), dtype=torch.int64)
        return {"image": image, "mask": mask, "name": self.samples[index].name}
