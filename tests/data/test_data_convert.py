"""Converters: correct ids, multiprocess, idempotent and resumable; the datasets then read their outputs."""

from __future__ import annotations

import numpy as np
import pytest
from data_layouts import CITYSCAPES_EVALUATED, COCO_UNUSED_CATEGORY_IDS, label_with, make_cityscapes, make_coco_stuff, make_voc
from PIL import Image
from scipy.io import savemat

from segfw.apis.convert_dataset import convert_cityscapes, convert_coco_stuff164k, convert_voc_aug
from segfw.errors import BadSampleError
from segfw.registry import DATASETS



def ids(path) -> np.ndarray:
    image = Image.open(path)
    assert image.mode == "L"
    return np.asarray(image)


def test_cityscapes_label_ids_to_train_ids_resumes(tmp_path):
    raw = make_cityscapes(tmp_path, list(range(34)) + [255])
    report = convert_cityscapes(tmp_path, workers=2)
    assert (report.converted, report.skipped) == (3, 0)
    outputs = sorted((tmp_path / "gtFine").rglob("*_gtFine_labelTrainIds.png"))
    for path in outputs:
        name = path.name.removesuffix("_gtFine_labelTrainIds.png")
        np.testing.assert_array_equal(ids(path), np.vectorize(lambda r: CITYSCAPES_EVALUATED.get(r, 255))(raw[name]))
    stamps = {p: p.stat().st_mtime_ns for p in outputs}
    outputs[0].unlink()  # an interrupted run: one output missing
    report = convert_cityscapes(tmp_path, workers=2)
    assert (report.converted, report.skipped) == (1, 2)
    assert all(p.stat().st_mtime_ns == stamps[p] for p in outputs[1:])
    assert not list(tmp_path.rglob(".*.tmp"))  # no temporary file of atomic_write left
    dataset = DATASETS.build({"name": "cityscapes", "root": str(tmp_path)}, split="train")
    assert all(s.label.name.endswith("labelTrainIds.png") for s in dataset.samples)


def test_converter_stops_on_an_unknown_id(tmp_path):
    make_cityscapes(tmp_path, [7, 40], splits=("val",))
    with pytest.raises(BadSampleError, match="label values 40 are not Cityscapes labelIds ids"):
        convert_cityscapes(tmp_path, workers=2)


def test_coco_stuff_raw_to_train_ids(tmp_path):
    used = [i - 1 for i in range(1, 183) if i not in COCO_UNUSED_CATEGORY_IDS]
    raw = make_coco_stuff(tmp_path, used + [255], converted=False)
    assert convert_coco_stuff164k(tmp_path, workers=2).converted == 3
    for name, label in raw.items():
        (path,) = (tmp_path / "annotations").glob(f"*/{name}_labelTrainIds.png")
        np.testing.assert_array_equal(ids(path), np.vectorize(lambda r: 255 if r == 255 else used.index(r))(label))
    assert convert_coco_stuff164k(tmp_path, workers=2).skipped == 3
    dataset = DATASETS.build({"name": "coco_stuff164k", "root": str(tmp_path)}, split="val")
    assert dataset.listing.variant == "_labelTrainIds.png"


def test_voc_aug_from_sbd_mat_files(tmp_path):
    make_voc(tmp_path, list(range(21)) + [255])  # VOC train: 2007_000032, 2007_000039; val: 2007_000033
    sbd = tmp_path / "benchmark_RELEASE" / "dataset"
    sbd_labels = {
        name: label_with(list(range(21)), seed=i)
        for i, name in enumerate(["2007_000033", "2007_000039", "2008_000002", "2008_000003"])
    }
    (sbd / "cls").mkdir(parents=True)
    for name, label in sbd_labels.items():
        savemat(
            sbd / "cls" / f"{name}.mat", {"GTcls": {"Segmentation": label.astype(np.uint8), "CategoriesPresent": [1]}}
        )
    (sbd / "train.txt").write_text("2007_000039\n2008_000002\n")
    (sbd / "val.txt").write_text("2007_000033\n2008_000003\n")
    images = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"
    for name in ("2008_000002", "2008_000003"):
        Image.open(images / "2007_000032.jpg").save(images / f"{name}.jpg")

    report = convert_voc_aug(tmp_path / "VOCdevkit", tmp_path, workers=2)
    assert (report.converted, report.skipped) == (4, 0)
    for name, label in sbd_labels.items():
        np.testing.assert_array_equal(ids(report.output / f"{name}.png"), label)
    lists = tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    assert (lists / "aug.txt").read_text().split() == ["2008_000002", "2008_000003"]  # SBD minus VOC train and val
    assert (lists / "trainaug.txt").read_text().split() == ["2007_000032", "2007_000039", "2008_000002", "2008_000003"]
    assert convert_voc_aug(tmp_path, tmp_path / "benchmark_RELEASE", workers=2).skipped == 4

    train = DATASETS.build({"name": "pascal_voc", "root": str(tmp_path)}, split="train")
    assert train.listing.variant == "trainaug"
    assert [s.name for s in train.samples] == (lists / "trainaug.txt").read_text().split()


def test_voc_aug_rejects_a_file_that_is_not_sbd(tmp_path):
    make_voc(tmp_path, [0, 1])
    sbd = tmp_path / "benchmark_RELEASE" / "dataset"
    (sbd / "cls").mkdir(parents=True)
    savemat(sbd / "cls" / "2008_000002.mat", {"something": np.zeros(3)})
    with pytest.raises(BadSampleError, match="2008_000002.mat: not an SBD class annotation"):
        convert_voc_aug(tmp_path, tmp_path, workers=1)
