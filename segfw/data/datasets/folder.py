"""Users' own data: ``root/images/<split>/*``, ``root/masks/<split>/*.png``, ``root/classes.txt``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from segfw.constants import IGNORE_INDEX, default_palette
from segfw.data.datasets.class_names import read_class_names
from segfw.data.datasets.base import Listing, SegmentationDataset, by_stem, pair_samples
from segfw.errors import BadSampleError, ConfigError
from segfw.registry import DATASETS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
LOSSY_MASK_SUFFIXES = (".jpg", ".jpeg")
LAYOUT = (
    "root/images/<split>/*.{jpg,png,tif}, root/masks/<split>/*.png (uint8 class ids, 255 = ignore), root/classes.txt"
)


@DATASETS.register("folder")
class FolderDataset(SegmentationDataset):
    """Images and masks paired by file stem; class names from ``classes.txt`` (K = its names, see
    :mod:`segfw.data.class_names`).

    Masks hold train ids directly: 0..K-1, and 255 = ignore. ``channels``: the images' channel count
    (4 for RGB + near-infrared TIFFs, ...); ``mean``/``std``: per-channel statistics of the images in
    their stored units, which ``augment=multichannel`` normalises with (null: each image by its own
    per-channel mean and std).
    """

    title = "folder dataset"
    layout = LAYOUT

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable | None = None,
        on_bad_sample: str = "fail",
        channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        ignore_index: int = IGNORE_INDEX,
    ):
        root = Path(root).expanduser()
        classes_file = root / "classes.txt"
        if not classes_file.is_file():
            raise BadSampleError(f"{classes_file}: not found. Expected layout: {LAYOUT}")
        self.classes = read_class_names(classes_file)  # strict: BOM, blank lines, duplicates, encoding
        self.palette = default_palette(len(self.classes))
        self.channels, self.mean, self.std = int(channels), mean, std
        for key, values in (("mean", mean), ("std", std)):
            if values is not None and len(values) != self.channels:
                raise ConfigError(
                    f"dataset.{key} has {len(values)} values but dataset.channels={channels}; give one per channel"
                )
        super().__init__(root, split, transform, on_bad_sample, ignore_index)

    def find_samples(self) -> Listing:
        image_dir = self.require(self.root / "images" / self.split, "split folder")
        mask_dir = self.require(self.root / "masks" / self.split, "split folder")
        images = by_stem((p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), "images")
        lossy = sorted(p for p in mask_dir.iterdir() if p.suffix.lower() in LOSSY_MASK_SUFFIXES)
        if lossy:
            more = f" (and {len(lossy) - 1} more)" if len(lossy) > 1 else ""
            raise BadSampleError(
                f"{lossy[0]}{more}: JPEG masks are lossy (compression changes class ids along every edge); "
                "save masks as PNG from the original ids"
            )
        masks = by_stem((p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"), "masks")
        return Listing(pair_samples(
            images, masks, lambda stem: image_dir / f"{stem}.jpg", lambda stem: mask_dir / f"{stem}.png"
        ))
