"""The whole validation split is checked before iteration 1, and a failing evaluation keeps the training
(issue 21, defect 5): a bad file in any val sample, not only the first, is one line naming it before any step;
the check reads headers (a cache keyed by size and mtime makes a second launch read none); an evaluation
that fails anyway saves last.pt first, so the run folder and its steps survive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segfw.data.split_check as split_check
from segfw.apis.train import train
from segfw.data.datasets.folder import FolderDataset
from segfw.engine.trainer import Trainer
from segfw.errors import BadSampleError

SIZE = (16, 16)


def folder_set(root: Path, val: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("val", val)):
        for i in range(count):
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "masks" / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(root / "images" / split / f"{i}.png")
            Image.fromarray(rng.integers(0, 2, SIZE, dtype=np.uint8)).save(root / "masks" / split / f"{i}.png")
    (root / "classes.txt").write_text("background\nthing\n")
    return root


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-20])


def spoil_jpeg(path: Path) -> None:
    Image.open(path).convert("RGB").save(path.with_suffix(".jpg"), quality=90)
    path.unlink()
    truncate(path.with_suffix(".jpg"))


DEFECTS = {  # what is wrong with val sample 1 (not the first one, which the old pre-flight read)
    "label out of range": (lambda root: Image.fromarray(np.full(SIZE, 7, np.uint8)).save(root / "masks/val/1.png"),
                           "masks/val/1.png: label values 7 are not folder dataset ids"),
    "truncated png": (lambda root: truncate(root / "images/val/1.png"), "images/val/1.png: unreadable or truncated"),
    "truncated jpeg": (lambda root: spoil_jpeg(root / "images/val/1.png"), "images/val/1.jpg: unreadable or truncated"),
    "zero bytes": (lambda root: (root / "images/val/1.png").write_bytes(b""), "images/val/1.png: unreadable"),
    "mask size": (lambda root: Image.fromarray(np.zeros((8, 16), np.uint8)).save(root / "masks/val/1.png"),
                  "masks/val/1.png: label is 16x8 but its image 1.png is 16x16"),
    "truncated mask": (lambda root: truncate(root / "masks/val/1.png"), "masks/val/1.png: unreadable or truncated"),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_every_val_sample_is_checked(tmp_path, defect):
    root = folder_set(tmp_path / "data")
    spoil, message = DEFECTS[defect]
    spoil(root)
    problems = split_check.check_split(FolderDataset(root, "val"), cache=tmp_path / "cache")
    assert len(problems) == 1 and message in problems[0], problems


def test_a_good_split_passes_and_a_second_check_reads_no_file(tmp_path, monkeypatch):
    root = folder_set(tmp_path / "data")
    Image.open(root / "images/val/2.png").save(root / "images/val/2.jpg", quality=90)  # a whole JPEG passes
    (root / "images/val/2.png").unlink()
    dataset = FolderDataset(root, "val")
    assert split_check.check_split(dataset, cache=tmp_path / "cache") == []
    opened = []
    real_open = Image.open
    monkeypatch.setattr(split_check.Image, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    assert split_check.check_split(dataset, cache=tmp_path / "cache") == [] and opened == []
    Image.fromarray(np.full(SIZE, 9, np.uint8)).save(root / "masks/val/2.png")  # changed: size/mtime differ
    assert "label values 9" in split_check.check_split(dataset, cache=tmp_path / "cache")[0]


def launch(root: Path, run: Path, *extra: str):
    from hydra import compose, initialize_config_dir

    from conftest import CONFIGS
    from segfw.config import register_schemas

    register_schemas()
    overrides = ["dataset=folder", f"dataset.root={root}", "device=cpu", "model/backbone=lite_resnet",
                 "model.head.channels=8", "model.aux_head.channels=8", "trainer.max_iters=2",
                 "trainer.eval_interval=2", "trainer.batch_size=2", "trainer.crop_size=[16,16]",
                 "trainer.num_workers=0", "trainer.num_vis_images=0", f"run_dir={run}", *extra]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(config_name="train", overrides=overrides)
    return train(cfg, overrides)


def test_a_bad_val_file_stops_the_launch_before_the_first_step(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFW_CACHE", str(tmp_path / "cache"))
    root = folder_set(tmp_path / "data")
    DEFECTS["label out of range"][0](root)
    steps = []
    monkeypatch.setattr(Trainer, "run_step", lambda self, batches: steps.append(1))
    with pytest.raises(BadSampleError) as caught:
        launch(root, tmp_path / "run")
    assert str(caught.value).startswith(f"{root / 'masks/val/1.png'}: label values 7")
    assert "before training" in str(caught.value) and steps == [] and not (tmp_path / "run").exists()


def test_a_failing_evaluation_saves_last_pt_first(tmp_path, monkeypatch):
    """Default checkpoint_interval=0: before, the folder and its eval_interval of steps were deleted."""
    monkeypatch.setenv("SEGFW_CACHE", str(tmp_path / "cache"))
    root = folder_set(tmp_path / "data")

    def broken(*args, **kwargs):
        raise BadSampleError(f"{root / 'masks/val/2.png'}: unreadable or truncated image; re-copy or remove the file")

    monkeypatch.setattr("segfw.engine.hooks.evaluation.evaluate", broken)  # a file spoilt after the check
    with pytest.raises(BadSampleError) as caught:
        launch(root, tmp_path / "run")
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    assert f"the training up to iteration 2 is saved in {last}" in str(caught.value)
    assert "resume=true" in str(caught.value) and "\n" not in str(caught.value)
    assert torch.load(last, weights_only=True)["iteration"] == 2
