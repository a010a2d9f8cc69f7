"""COCO-Stuff 164k (171 classes: 80 things + 91 stuff) in mmsegmentation's ``images``/``annotations`` layout."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from segfw.data.datasets.base import Listing, SegmentationDataset, index_files, pair_samples, prefer_converted
from segfw.registry import DATASETS

COCO_STUFF_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush", "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet",
    "cage", "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter",
    "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble", "floor-other",
    "floor-stone", "floor-tile", "floor-wood", "flower", "fog", "food-other", "fruit", "furniture-other",
    "grass", "gravel", "ground-other", "hill", "house", "leaves", "light", "mat", "metal", "mirror-stuff",
    "moss", "mountain", "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic",
    "platform", "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand",
    "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable", "wall-brick",
    "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
)  # fmt: skip

# mmsegmentation's COCO-Stuff colours (two classes share a colour there, kept for compatibility).
COCO_STUFF_PALETTE = np.array([
    [0, 192, 64], [0, 192, 64], [0, 64, 96], [128, 192, 192], [0, 64, 64], [0, 192, 224], [0, 192, 192],
    [128, 192, 64], [0, 192, 96], [128, 192, 64], [128, 32, 192], [0, 0, 224], [0, 0, 64], [0, 160, 192],
    [128, 0, 96], [128, 0, 192], [0, 32, 192], [128, 128, 224], [0, 0, 192], [128, 160, 192], [128, 128, 0],
    [128, 0, 32], [128, 32, 0], [128, 0, 128], [64, 128, 32], [0, 160, 0], [0, 0, 0], [192, 128, 160],
    [0, 32, 0], [0, 128, 128], [64, 128, 160], [128, 160, 0], [0, 128, 0], [192, 128, 32], [128, 96, 128],
    [0, 0, 128], [64, 0, 32], [0, 224, 128], [128, 0, 0], [192, 0, 160], [0, 96, 128], [128, 128, 128],
    [64, 0, 160], [128, 224, 128], [128, 128, 64], [192, 0, 32], [128, 96, 0], [128, 0, 192], [0, 128, 32],
    [64, 224, 0], [0, 0, 64], [128, 128, 160], [64, 96, 0], [0, 128, 192], [0, 128, 160], [192, 224, 0],
    [0, 128, 64], [128, 128, 32], [192, 32, 128], [0, 64, 192], [0, 0, 32], [64, 160, 128], [128, 64, 64],
    [128, 0, 160], [64, 32, 128], [128, 192, 192], [0, 0, 160], [192, 160, 128], [128, 192, 0], [128, 0, 96],
    [192, 32, 0], [128, 64, 128], [64, 128, 96], [64, 160, 0], [0, 64, 0], [192, 128, 224], [64, 32, 0],
    [0, 192, 128], [64, 128, 224], [192, 160, 0], [0, 192, 0], [192, 128, 96], [192, 96, 128], [0, 64, 128],
    [64, 0, 96], [64, 224, 128], [128, 64, 0], [192, 0, 224], [64, 96, 128], [128, 192, 128], [64, 0, 224],
    [192, 224, 128], [128, 192, 64], [192, 0, 96], [192, 96, 0], [128, 64, 192], [0, 128, 96], [0, 224, 0],
    [64, 64, 64], [128, 128, 224], [0, 96, 0], [64, 192, 192], [0, 128, 224], [128, 224, 0], [64, 192, 64],
    [128, 128, 96], [128, 32, 128], [64, 0, 192], [0, 64, 96], [0, 160, 128], [192, 0, 64], [128, 64, 224],
    [0, 32, 128], [192, 128, 192], [0, 64, 224], [128, 160, 128], [192, 128, 0], [128, 64, 32], [128, 32, 64],
    [192, 0, 128], [64, 192, 32], [0, 160, 64], [64, 0, 0], [192, 192, 160], [0, 32, 64], [64, 128, 128],
    [64, 192, 160], [128, 160, 64], [64, 128, 0], [192, 192, 32], [128, 96, 192], [64, 0, 128], [64, 64, 32],
    [0, 224, 192], [192, 0, 0], [192, 64, 160], [0, 96, 192], [192, 128, 128], [64, 64, 160], [128, 224, 192],
    [192, 128, 64], [192, 64, 32], [128, 96, 64], [192, 0, 192], [0, 192, 32], [64, 224, 64], [64, 0, 64],
    [128, 192, 160], [64, 96, 64], [64, 128, 192], [0, 192, 160], [192, 224, 64], [64, 128, 64], [128, 192, 32],
    [192, 32, 192], [64, 64, 192], [0, 64, 32], [64, 160, 192], [192, 64, 64], [128, 64, 160], [64, 32, 192],
    [192, 192, 192], [0, 64, 160], [192, 160, 192], [192, 192, 0], [128, 64, 96], [192, 32, 64], [192, 64, 128],
    [64, 192, 96], [64, 160, 64], [64, 64, 0],
], dtype=np.uint8)  # fmt: skip

# Raw stuffthingmaps ids are COCO category ids - 1 (0..181, 255 = unlabeled); these 11 thing ids are unused.
UNUSED_RAW_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
RAW_TO_TRAIN_ID = {raw: train for train, raw in enumerate(sorted(set(range(182)) - set(UNUSED_RAW_IDS)))}

TRAIN_IDS_SUFFIX = "_labelTrainIds.png"
RAW_SUFFIX = ".png"  # stuffthingmaps' raw maps
LAYOUT = (
    "root/images/{train2017,val2017}/*.jpg and root/annotations/{train2017,val2017}/*_labelTrainIds.png "
    "(or the raw stuffthingmaps *.png, mapped on the fly); root may also be the parent of coco_stuff164k"
)


@DATASETS.register("coco_stuff164k")
class COCOStuff164k(SegmentationDataset):
    """COCO-Stuff 164k, 171 classes. Reads ``*_labelTrainIds.png`` (tools/convert_dataset.py name=coco_stuff164k)
    when every image has one, else the raw ``*.png`` maps mapped with the official table. 255 = ignore.
    """

    classes = COCO_STUFF_CLASSES
    palette = COCO_STUFF_PALETTE
    title = "COCO-Stuff 164k"
    layout = LAYOUT
    splits = {"train": "train2017", "val": "val2017"}

    def find_samples(self) -> Listing:
        """The split's samples; the variant is the label files' suffix (``_labelTrainIds.png`` or raw ``.png``)."""
        base = self.locate(("", "coco_stuff164k"), "images")
        image_dir = self.require(base / "images" / self.split, "split folder")
        label_dir = self.require(base / "annotations" / self.split, "split folder")
        images = index_files(image_dir, "*.jpg", ".jpg")
        train_ids = index_files(label_dir, f"*{TRAIN_IDS_SUFFIX}", TRAIN_IDS_SUFFIX)
        converted_tag = TRAIN_IDS_SUFFIX.removesuffix(".png")
        raw = {
            name: path
            for name, path in index_files(label_dir, "*.png", ".png").items()
            if not name.endswith(converted_tag)
        }
        converted = prefer_converted(images, train_ids, raw)
        suffix = TRAIN_IDS_SUFFIX if converted else RAW_SUFFIX
        samples = pair_samples(
            images,
            train_ids if converted else raw,
            lambda name: image_dir / f"{name}.jpg",
            lambda name: label_dir / f"{name}{suffix}",
        )
        return Listing(samples, suffix)

    def raw_to_train(self) -> Mapping[int, int]:
        return RAW_TO_TRAIN_ID if self.listing.variant == RAW_SUFFIX else super().raw_to_train()
