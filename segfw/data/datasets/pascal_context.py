"""PASCAL Context on VOC2010 (59 classes, or 60 with background), labels in ``SegmentationClassContext``."""

from __future__ import annotations

from collections.abc import Mapping

from segfw.data.datasets.ade20k import ADE20K_PALETTE
from segfw.data.datasets.base import IGNORE_INDEX, Listing, SegmentationDataset
from segfw.data.datasets.pascal_voc import listed_samples, read_split_file
from segfw.registry import DATASETS

CONTEXT60_CLASSES = (
    "background", "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup", "curtain",
    "dog", "door", "fence", "floor", "flower", "food", "grass", "ground", "horse", "keyboard", "light",
    "motorbike", "mountain", "mouse", "person", "plate", "platform", "pottedplant", "road", "rock", "sheep",
    "shelves", "sidewalk", "sign", "sky", "snow", "sofa", "table", "track", "train", "tree", "truck",
    "tvmonitor", "wall", "water", "window", "wood",
)  # fmt: skip

LAYOUT = (
    "root/VOCdevkit/VOC2010/{JPEGImages/*.jpg, SegmentationClassContext/*.png (ids 0..59, 0 = background), "
    "ImageSets/SegmentationContext/{train,val}.txt}; root may also be VOCdevkit or VOC2010"
)


@DATASETS.register("pascal_context")
class PascalContext59(SegmentationDataset):
    """PASCAL Context, 59 classes: raw label 0 (background) is ignored and 1..59 become 0..58.

    mmsegmentation's colours (the first 60 of its ADE20K palette). Splits "train" (4,996) and "val" (5,104).
    """

    classes = CONTEXT60_CLASSES[1:]
    palette = ADE20K_PALETTE[1:60]
    title = "PASCAL Context"
    layout = LAYOUT
    splits = {"train": "train", "val": "val"}

    def find_samples(self) -> Listing:
        base = self.locate(("", "VOC2010", "VOCdevkit/VOC2010"), "JPEGImages")
        labels = self.require(base / "SegmentationClassContext", "label folder")
        names = read_split_file(base / "ImageSets" / "SegmentationContext" / f"{self.split}.txt", self.layout)
        return Listing(listed_samples(names, base / "JPEGImages", labels))

    def raw_to_train(self) -> Mapping[int, int]:
        return {0: IGNORE_INDEX} | {raw: raw - 1 for raw in range(1, 60)}


@DATASETS.register("pascal_context60")
class PascalContext60(PascalContext59):
    """PASCAL Context, 60 classes: background is class 0 and raw ids are train ids."""

    classes = CONTEXT60_CLASSES
    palette = ADE20K_PALETTE[:60]
    title = "PASCAL Context (60 classes)"

    def raw_to_train(self) -> Mapping[int, int]:
        return {raw: raw for raw in range(60)}
