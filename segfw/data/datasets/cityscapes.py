"""Cityscapes (fine annotations, 19 evaluated classes) in its official ``leftImg8bit``/``gtFine`` layout."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from segfw.data.datasets.base import Listing, SegmentationDataset, index_files, pair_samples, prefer_converted
from segfw.registry import DATASETS

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip
CITYSCAPES_PALETTE = np.array([
    [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
    [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
    [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
], dtype=np.uint8)  # fmt: skip

# (name, label id, train id) from the official cityscapesScripts labels.py; train id 255 = not evaluated.
# License plate's id -1 is stored as 255 in 8-bit label files.
CITYSCAPES_LABELS = (
    ("unlabeled", 0, 255), ("ego vehicle", 1, 255), ("rectification border", 2, 255), ("out of roi", 3, 255),
    ("static", 4, 255), ("dynamic", 5, 255), ("ground", 6, 255), ("road", 7, 0), ("sidewalk", 8, 1),
    ("parking", 9, 255), ("rail track", 10, 255), ("building", 11, 2), ("wall", 12, 3), ("fence", 13, 4),
    ("guard rail", 14, 255), ("bridge", 15, 255), ("tunnel", 16, 255), ("pole", 17, 5), ("polegroup", 18, 255),
    ("traffic light", 19, 6), ("traffic sign", 20, 7), ("vegetation", 21, 8), ("terrain", 22, 9), ("sky", 23, 10),
    ("person", 24, 11), ("rider", 25, 12), ("car", 26, 13), ("truck", 27, 14), ("bus", 28, 15),
    ("caravan", 29, 255), ("trailer", 30, 255), ("train", 31, 16), ("motorcycle", 32, 17), ("bicycle", 33, 18),
    ("license plate", -1, 255),
)  # fmt: skip
LABEL_ID_TO_TRAIN_ID = {label_id: train_id for _, label_id, train_id in CITYSCAPES_LABELS}
TRAIN_ID_TO_LABEL_ID = np.zeros(256, dtype=np.uint8)  # train id → label id; 255 and unused ids → 0 "unlabeled"
TRAIN_ID_TO_LABEL_ID[[t for _, _, t in CITYSCAPES_LABELS if t != 255]] = [
    i for _, i, t in CITYSCAPES_LABELS if t != 255
]

IMAGE_SUFFIX = "_leftImg8bit.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
LAYOUT = (
    "root/leftImg8bit/{train,val,test}/<city>/*_leftImg8bit.png and root/gtFine/{train,val,test}/<city>/"
    "*_gtFine_labelTrainIds.png (or *_gtFine_labelIds.png, mapped on the fly); root may also be its parent"
)


@DATASETS.register("cityscapes")
class Cityscapes(SegmentationDataset):
    """Cityscapes gtFine, 19 classes. Reads ``*_labelTrainIds.png`` when every image of the split has one,
    else ``*_labelIds.png`` mapped with the official table (all 34 ids and -1; ids not evaluated → 255).
    """

    classes = CITYSCAPES_CLASSES
    palette = CITYSCAPES_PALETTE
    title = "Cityscapes"
    layout = LAYOUT
    splits = {"train": "train", "val": "val", "test": "test"}

    def find_samples(self) -> Listing:
        """The split's samples; the variant is the label files' suffix (``*_gtFine_labelTrainIds.png`` or
        ``*_gtFine_labelIds.png``)."""
        base = self.locate(("", "cityscapes"), "leftImg8bit")
        image_dir = self.require(base / "leftImg8bit" / self.split, "split folder")
        label_dir = self.require(base / "gtFine" / self.split, "split folder")
        images = index_files(image_dir, f"*/*{IMAGE_SUFFIX}", IMAGE_SUFFIX)
        train_ids = index_files(label_dir, f"*/*{TRAIN_IDS_SUFFIX}", TRAIN_IDS_SUFFIX)
        label_ids = index_files(label_dir, f"*/*{LABEL_IDS_SUFFIX}", LABEL_IDS_SUFFIX)
        converted = prefer_converted(images, train_ids, label_ids)
        suffix = TRAIN_IDS_SUFFIX if converted else LABEL_IDS_SUFFIX

        def city(name: str) -> str:
            return name.split("_")[0]

        samples = pair_samples(
            images,
            train_ids if converted else label_ids,
            lambda name: image_dir / city(name) / f"{name}{IMAGE_SUFFIX}",
            lambda name: label_dir / city(name) / f"{name}{suffix}",
        )
        return Listing(samples, suffix)

    def raw_to_train(self) -> Mapping[int, int]:
        if self.listing.variant == LABEL_IDS_SUFFIX:
            return LABEL_ID_TO_TRAIN_ID
        return super().raw_to_train()

    def encode_prediction(self, train_ids: np.ndarray) -> np.ndarray:
        """Train ids (H, W) uint8 → official label ids (H, W) uint8, as cityscapesScripts' evaluation reads them."""
        return TRAIN_ID_TO_LABEL_ID[train_ids]

    def prediction_filename(self, name: str) -> str:
        """``<city>_<seq>_<frame>_leftImg8bit.png``: cityscapesScripts matches ``<city>_<seq>_<frame>*.png``."""
        return f"{name}{IMAGE_SUFFIX}"
