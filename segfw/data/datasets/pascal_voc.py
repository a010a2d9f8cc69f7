"""PASCAL VOC 2012 segmentation (21 classes) in the ``VOCdevkit`` layout, with the SBD ``aug`` set when present."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from segfw.constants import IGNORE_INDEX, default_palette
from segfw.data.datasets.base import Listing, Sample, SegmentationDataset, index_files, pair_samples
from segfw.errors import BadSampleError
from segfw.registry import DATASETS

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

TRAINAUG = "trainaug"  # the listing's variant when VOC train is extended with SBD's aug set

LAYOUT = (
    "root/VOCdevkit/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png, ImageSets/Segmentation/{train,val}.txt}, "
    "optionally SegmentationClassAug/*.png + ImageSets/Segmentation/aug.txt (tools/convert_dataset.py name=voc_aug); "
    "root may also be VOCdevkit or VOC2012"
)


def read_split_file(path: Path, layout: str) -> list[str]:
    """Sample names listed in a split file, one per line."""
    if not path.is_file():
        raise BadSampleError(f"{path}: split file not found. Expected layout: {layout}")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def listed_samples(names: list[str], image_dir: Path, label_dir: Path) -> list[Sample]:
    """Samples named in a split file: ``image_dir/<name>.jpg`` with ``label_dir/<name>.png``."""
    return pair_samples(
        index_files(image_dir, "*.jpg", ".jpg"),
        index_files(label_dir, "*.png", ".png"),
        lambda name: image_dir / f"{name}.jpg",
        lambda name: label_dir / f"{name}.png",
        names,
    )


@DATASETS.register("pascal_voc")
class PascalVOC(SegmentationDataset):
    """PASCAL VOC 2012, 21 classes (0 = background); the object boundaries (255) are ignored.

    Split "train" is the 10,582-image ``trainaug`` set (VOC train with ``SegmentationClass`` labels plus
    ``aug.txt`` with ``SegmentationClassAug`` labels) when the aug files are present and ``use_aug``,
    else VOC's 1,464-image train list. Other splits: "val", "trainval".
    """

    classes = VOC_CLASSES
    palette = default_palette(len(VOC_CLASSES))
    title = "PASCAL VOC"
    layout = LAYOUT
    splits = {"train": "train", "val": "val", "trainval": "trainval"}

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable | None = None,
        on_bad_sample: str = "fail",
        use_aug: bool = True,
        ignore_index: int = IGNORE_INDEX,
    ):
        self.use_aug = use_aug
        super().__init__(root, split, transform, on_bad_sample, ignore_index)

    def find_samples(self) -> Listing:
        """VOC's list of the split; for "train" with the aug files (and ``use_aug``), the variant ``"trainaug"``."""
        base = self.locate(("", "VOC2012", "VOCdevkit/VOC2012"), "JPEGImages")
        lists = self.require(base / "ImageSets" / "Segmentation", "split lists folder")
        images = base / "JPEGImages"
        labels = self.require(base / "SegmentationClass", "label folder")
        samples = listed_samples(read_split_file(lists / f"{self.split}.txt", self.layout), images, labels)
        if not (
            self.split == "train"
            and self.use_aug
            and (lists / "aug.txt").is_file()
            and (base / "SegmentationClassAug").is_dir()
        ):
            return Listing(samples)
        have = {sample.name for sample in samples}
        extra = [name for name in read_split_file(lists / "aug.txt", self.layout) if name not in have]
        return Listing(samples + listed_samples(extra, images, base / "SegmentationClassAug"), TRAINAUG)
