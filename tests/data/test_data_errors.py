"""Bad input: one clear line naming the file and what was expected, in the main process and from workers;
``on_bad_sample=skip`` skips and counts instead."""

from __future__ import annotations

import numpy as np
import pytest
from data_layouts import SIZE, label_with, make_ade20k, make_voc, write_label
from PIL import Image

from segfw.data.loader import SkippedSamples
from segfw.engine.data import build_eval_loader
from segfw.errors import BadSampleError, SkippedSample, one_line
from segfw.registry import DATASETS

BASE = "ADEChallengeData2016"


def ade(root, split="train", **kwargs):
    return DATASETS.build({"name": "ade20k", "root": str(root), **kwargs}, split=split)


def assert_one_line(error: BaseException, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message and "Caught" not in message
    assert one_line(error) == message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# --- layout problems: found when the dataset is built ---------------------------------------------------------


def test_missing_root_prints_the_expected_layout(tmp_path):
    with pytest.raises(BadSampleError) as error:
        ade(tmp_path / "nowhere")
    assert_one_line(
        error.value, f"{tmp_path / 'nowhere'}: dataset root not found", "Expected layout: root/ADEChallengeData2016"
    )


def test_root_without_the_dataset(tmp_path):
    with pytest.raises(BadSampleError) as error:
        ade(tmp_path)
    assert_one_line(error.value, "no ADE20K found", str(tmp_path / BASE / "images"), "Expected layout")


def test_missing_split_folder(tmp_path):
    make_ade20k(tmp_path, [1, 2], counts=(("training", 1),))
    with pytest.raises(BadSampleError) as error:
        ade(tmp_path, "val")
    assert_one_line(
        error.value, str(tmp_path / BASE / "images" / "validation"), "split folder not found", "Expected layout"
    )


def test_missing_split_list(tmp_path):
    make_voc(tmp_path, [0, 1])
    (tmp_path / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").unlink()
    with pytest.raises(BadSampleError) as error:
        DATASETS.build({"name": "pascal_voc", "root": str(tmp_path)}, split="val")
    assert_one_line(error.value, "val.txt: split file not found", "Expected layout")


@pytest.mark.parametrize("remove", ["annotations", "images"])
def test_unpaired_files_fail_when_the_dataset_is_built(tmp_path, remove):
    make_ade20k(tmp_path, [1, 2], counts=(("training", 3),))
    (
        tmp_path / BASE / remove / "training" / ("ADE_train_00000002" + (".png" if remove == "annotations" else ".jpg"))
    ).unlink()
    with pytest.raises(BadSampleError) as error:
        ade(tmp_path)
    image = tmp_path / BASE / "images" / "training" / "ADE_train_00000002.jpg"
    label = tmp_path / BASE / "annotations" / "training" / "ADE_train_00000002.png"
    expected = (
        f"{image}: image has no label; expected {label}"
        if remove == "annotations"
        else f"{label}: label has no image; expected {image}"
    )
    assert_one_line(error.value, expected)


# --- sample problems: found when the sample is loaded, in the main process or a worker -------------------------


def spoil(root, problem: str) -> tuple[str, ...]:
    """Break sample 2 of a 3-sample ADE20K training set; returns what the error line must say."""
    image = root / BASE / "images" / "training" / "ADE_train_00000002.jpg"
    label = root / BASE / "annotations" / "training" / "ADE_train_00000002.png"
    if problem == "truncated image":
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
        return f"{image}: unreadable or truncated image", "re-copy or remove"
    if problem == "label size":
        write_label(label, label_with([1, 2], size=(SIZE[0] - 1, SIZE[1])))
        return f"{label}: label is {SIZE[1]}x{SIZE[0] - 1}", f"is {SIZE[1]}x{SIZE[0]} (W x H)"
    if problem == "label values":
        write_label(label, label_with([1, 151, 200]))
        return (f"{label}: label values 151, 200 are not ADE20K ids (expected 0..150, 255)",)
    if problem == "rgb label":
        Image.fromarray(np.zeros((*SIZE, 3), np.uint8)).save(label)
        return f"{label}: label is a 3-channel RGB image", "single-channel class ids are expected"
    if problem == "image without label":
        label.unlink()
        return (f"{image}: image has no label; expected {label}",)
    raise ValueError(problem)


def first_error(loader) -> BadSampleError:
    """The error a loader raises, without its traceback: a traceback holding the worker iterator in a reference
    cycle makes torch's worker shutdown wait out its join timeouts (2 x 5 s) when the cycle is collected."""
    try:
        list(loader)
    except BadSampleError as error:
        return error.with_traceback(None)
    raise AssertionError("the loader raised no BadSampleError")


SAMPLE_PROBLEMS = ["truncated image", "label size", "label values", "rgb label"]


@pytest.fixture
def spoiled(tmp_path, request):
    make_ade20k(tmp_path, [0, 1, 2, 150], counts=(("training", 3),))
    return tmp_path, spoil(tmp_path, request.param)


@pytest.mark.parametrize("spoiled", SAMPLE_PROBLEMS, indirect=True)
def test_bad_sample_in_the_main_process(spoiled):
    root, fragments = spoiled
    dataset = ade(root)
    dataset[0]
    with pytest.raises(BadSampleError) as error:
        dataset[1]
    assert_one_line(error.value, *fragments)


@pytest.mark.parametrize("spoiled", SAMPLE_PROBLEMS, indirect=True)
def test_bad_sample_in_a_worker_keeps_its_one_line(spoiled):
    root, fragments = spoiled
    assert_one_line(first_error(build_eval_loader(ade(root), 2)), *fragments)


@pytest.mark.parametrize("spoiled", SAMPLE_PROBLEMS + ["image without label"], indirect=True)
@pytest.mark.parametrize("workers", [0, 2])
def test_skip_logs_each_bad_file_once_and_counts(spoiled, workers, caplog):
    root, fragments = spoiled
    dataset = ade(root, on_bad_sample="skip")
    assert isinstance(dataset[1], SkippedSample)
    skipped = SkippedSamples()
    loader = build_eval_loader(dataset, workers, batch_size=2)
    batches = (batch for _ in range(2) for step in loader for batch in step)
    names = [name for batch in skipped.filter(batches) for name in batch["name"]]
    assert names == ["ADE_train_00000001", "ADE_train_00000003"] * 2
    assert len(skipped) == 1 and skipped.summary().startswith("skipped 1 bad sample(s)")
    logged = [r.getMessage() for r in caplog.records if "skipped bad sample" in r.getMessage()]
    assert len(logged) == 1 and all(fragment in logged[0] for fragment in fragments)


def test_one_line_unwraps_any_worker_error():
    wrapped = (
        "Caught ValueError in DataLoader worker process 1.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 3, in f\n    raise ValueError("a.png: broken: really")\n'
        "ValueError: a.png: broken: really\n"
    )
    assert one_line(ValueError(wrapped)) == "a.png: broken: really"
    assert (
        str(BadSampleError(wrapped.replace("ValueError", "segfw.errors.BadSampleError")))
        == "a.png: broken: really"
    )
