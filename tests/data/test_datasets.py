"""Each dataset on a tiny copy of its official layout: pairing, splits, root variants, label mapping pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest
from data_layouts import CITYSCAPES_EVALUATED, COCO_UNUSED_CATEGORY_IDS, make_ade20k, make_cityscapes, make_coco_stuff, make_context, make_voc
from PIL import Image

from segfw.data.datasets.base import Listing
from segfw.errors import ConfigError
from segfw.registry import DATASETS

# Oracles written from the datasets' official documentation, independently of segfw's tables.


def check_mapping(dataset, raw_labels: dict, expected_of) -> None:
    """Every sample's mask equals ``expected_of(raw)`` pixel by pixel; images match their files."""
    assert len(dataset) == len(raw_labels)
    for i in range(len(dataset)):
        item = dataset[i]
        raw = raw_labels[item["name"]]
        expected = np.vectorize(expected_of)(raw)
        assert item["mask"].dtype.is_floating_point is False and item["mask"].dtype.itemsize == 8
        np.testing.assert_array_equal(item["mask"].numpy(), expected)
        np.testing.assert_array_equal(item["image"], np.asarray(Image.open(dataset.samples[i].image).convert("RGB")))


def check_metadata(dataset, num_classes: int) -> None:
    assert dataset.num_classes == num_classes == len(dataset.classes) == len(set(dataset.classes))
    assert dataset.palette.shape == (num_classes, 3) and dataset.palette.dtype == np.uint8


def build(name: str, root, split: str, **kwargs):
    return DATASETS.build({"name": name, "root": str(root), **kwargs}, split=split)


@pytest.mark.parametrize("root_level", ["parent", "ADEChallengeData2016"])
def test_ade20k_reduce_zero_label(tmp_path, root_level):
    raw = make_ade20k(tmp_path, list(range(151)) + [255])
    root = tmp_path if root_level == "parent" else tmp_path / "ADEChallengeData2016"
    train = build("ade20k", root, "train")
    check_metadata(train, 150)
    assert train.split == "training" and [s.name for s in train.samples] == ["ADE_train_00000001", "ADE_train_00000002"]
    check_mapping(train, {k: v for k, v in raw.items() if "train" in k}, lambda r: 255 if r in (0, 255) else r - 1)
    val = build("ade20k", root, "validation")
    check_mapping(val, {k: v for k, v in raw.items() if "val" in k}, lambda r: 255 if r in (0, 255) else r - 1)


def test_cityscapes_label_ids_all_34_and_minus_one(tmp_path):
    raw = make_cityscapes(tmp_path, list(range(34)) + [255])  # -1 (license plate) is 255 in an 8-bit file
    for split in ("train", "val"):
        dataset = build("cityscapes", tmp_path, split)
        check_metadata(dataset, 19)
        assert dataset.samples[0].label.name.endswith("_gtFine_labelIds.png")
        names = {s.name for s in dataset.samples}
        check_mapping(dataset, {k: v for k, v in raw.items() if k in names}, lambda r: CITYSCAPES_EVALUATED.get(r, 255))


def test_cityscapes_prefers_label_train_ids(tmp_path):
    make_cityscapes(tmp_path, list(range(34)), suffix="labelIds")
    raw = make_cityscapes(tmp_path / "converted", list(range(19)) + [255], suffix="labelTrainIds")
    for path in (tmp_path / "converted" / "gtFine").rglob("*.png"):  # put the converted files beside the originals
        path.rename(tmp_path / path.relative_to(tmp_path / "converted"))
    dataset = build("cityscapes", tmp_path, "train")
    assert all(s.label.name.endswith("_gtFine_labelTrainIds.png") for s in dataset.samples)
    check_mapping(dataset, {k: v for k, v in raw.items() if k in {s.name for s in dataset.samples}}, lambda r: r)


@pytest.mark.parametrize("root_level", ["parent", "VOCdevkit", "VOCdevkit/VOC2012"])
def test_pascal_voc_palette_labels_and_boundary(tmp_path, root_level):
    raw = make_voc(tmp_path, list(range(21)) + [255])
    train = build("pascal_voc", tmp_path / root_level if root_level != "parent" else tmp_path, "train")
    check_metadata(train, 21)
    assert train.split == "train" and len(train) == 2
    assert Image.open(train.samples[0].label).mode == "P"
    check_mapping(
        train,
        {k.split("/")[1]: v for k, v in raw.items() if k.split("/")[1] in {"2007_000032", "2007_000039"}},
        lambda r: r,
    )


def test_pascal_voc_aug_set(tmp_path):
    raw = make_voc(tmp_path, list(range(21)) + [255], aug=True)
    train = build("pascal_voc", tmp_path, "train")
    assert train.split == "train" and train.listing.variant == "trainaug"
    assert [(s.name, s.label.parent.name) for s in train.samples] == [
        ("2007_000032", "SegmentationClass"),
        ("2007_000039", "SegmentationClass"),
        ("2008_000002", "SegmentationClassAug"),
    ]
    check_mapping(train, {s.name: raw[f"{s.label.parent.name}/{s.name}"] for s in train.samples}, lambda r: r)
    assert len(build("pascal_voc", tmp_path, "train", use_aug=False)) == 2
    assert len(build("pascal_voc", tmp_path, "val")) == 1


@pytest.mark.parametrize("name, num_classes", [("pascal_context", 59), ("pascal_context60", 60)])
def test_pascal_context_variants(tmp_path, name, num_classes):
    raw = make_context(tmp_path, list(range(60)) + [255])
    expected = (lambda r: 255 if r in (0, 255) else r - 1) if num_classes == 59 else (lambda r: r)
    for split, names in (("train", {"2008_000002", "2008_000003"}), ("val", {"2008_000007"})):
        dataset = build(name, tmp_path, split)
        check_metadata(dataset, num_classes)
        check_mapping(dataset, {k: v for k, v in raw.items() if k in names}, expected)
    assert build("pascal_context", tmp_path, "train").classes[0] == "aeroplane"
    assert build("pascal_context60", tmp_path, "train").classes[0] == "background"


def test_coco_stuff_label_train_ids(tmp_path):
    raw = make_coco_stuff(tmp_path / "coco_stuff164k", list(range(171)) + [255], converted=True)
    dataset = build("coco_stuff164k", tmp_path, "train")  # root may be the parent of coco_stuff164k
    check_metadata(dataset, 171)
    assert dataset.split == "train2017"
    check_mapping(dataset, {k: v for k, v in raw.items() if k in {s.name for s in dataset.samples}}, lambda r: r)


def test_coco_stuff_raw_maps_mapped_on_the_fly(tmp_path):
    used = [i - 1 for i in range(1, 183) if i not in COCO_UNUSED_CATEGORY_IDS]
    raw = make_coco_stuff(tmp_path, used + [255], converted=False)
    dataset = build("coco_stuff164k", tmp_path, "val")
    assert len(used) == 171
    check_mapping(
        dataset,
        {k: v for k, v in raw.items() if k in {s.name for s in dataset.samples}},
        lambda r: 255 if r == 255 else used.index(r),
    )


LAYOUT_VARIANTS = {  # dataset, how to make it, split → the listing's variant
    "cityscapes labelIds": ("cityscapes", lambda root: make_cityscapes(root, [7, 8]), "train",
                            "_gtFine_labelIds.png"),
    "cityscapes labelTrainIds": ("cityscapes", lambda root: make_cityscapes(root, [0, 1], suffix="labelTrainIds"),
                                 "train", "_gtFine_labelTrainIds.png"),
    "coco raw maps": ("coco_stuff164k", lambda root: make_coco_stuff(root, [0, 1], converted=False), "val", ".png"),
    "coco converted": ("coco_stuff164k", lambda root: make_coco_stuff(root, [0, 1], converted=True), "val",
                       "_labelTrainIds.png"),
    "voc trainaug": ("pascal_voc", lambda root: make_voc(root, [0, 1], aug=True), "train", "trainaug"),
    "voc val": ("pascal_voc", lambda root: make_voc(root, [0, 1], aug=True), "val", ""),
    "ade20k": ("ade20k", lambda root: make_ade20k(root, [0, 1]), "train", ""),
}


@pytest.mark.parametrize("case", LAYOUT_VARIANTS)
def test_layout_is_a_returned_value_not_a_change_of_the_dataset(tmp_path, case):
    """``find_samples`` returns the samples and the variant it chose; calling it again changes no attribute."""
    name, make, split, variant = LAYOUT_VARIANTS[case]
    make(tmp_path)
    dataset = build(name, tmp_path, split)
    assert isinstance(dataset.listing, Listing) and dataset.listing.variant == variant
    assert dataset.samples is dataset.listing.samples
    before = dict(vars(dataset))
    again = dataset.find_samples()
    assert again == dataset.listing and vars(dataset) == before


def test_unknown_split_names_the_choices(tmp_path):
    make_ade20k(tmp_path, [1, 2])
    with pytest.raises(ConfigError, match="no split 'test'.*training, val, validation"):
        build("ade20k", tmp_path, "test")


def test_val_pipeline_keeps_the_original_label(tmp_path):
    from segfw.data.transforms import build_transforms

    raw = make_ade20k(tmp_path, list(range(151)), counts=(("validation", 1),))
    augment = {"train": [], "val": [{"name": "RescaleKeepRatio", "scale": [60, 30]}, {"name": "Normalize"}]}
    dataset = DATASETS.build(
        {"name": "ade20k", "root": str(tmp_path)}, split="val", transform=build_transforms(augment, "val")
    )
    item = dataset[0]
    assert tuple(item["image"].shape) == (3, 30, 32)  # 13x14 scaled by min(60/14, 30/13)
    np.testing.assert_array_equal(
        item["mask"].numpy(), np.where(raw["ADE_val_00000001"] == 0, 255, raw["ADE_val_00000001"] - 1)
    )


def test_ade20k_predictions_are_written_in_benchmark_ids():
    from segfw.data.datasets.ade20k import ADE20K

    train_ids = np.array([[0, 149], [5, 0]], dtype=np.uint8)
    assert ADE20K.encode_prediction(None, train_ids).tolist() == [[1, 150], [6, 1]]
