"""The real tools as a user runs them: train, eval, infer, typos, resume, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import CLASSES, REPO, launch_and_signal, run_tool, tiny_overrides

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("e2e")
    run_tool("train.py", *tiny_overrides(tmp, **{"trainer.max_iters": "4", "trainer.eval_interval": "2"}))
    return tmp / "run"


def test_train_writes_the_run_folder(trained_run):
    for name in ("config.yaml", "checkpoints/last.pt", "checkpoints/best.pt", "metrics.json"):
        assert (trained_run / name).is_file(), name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert set(metrics) >= {"mIoU", "mAcc", "aAcc", "mDice", "mPrecision", "per_class", "per_class_dice", "per_class_precision"}
    assert list(metrics["per_class"]) == CLASSES
    ious = [iou for iou in metrics["per_class"].values() if iou is not None]
    assert ious and metrics["mIoU"] == pytest.approx(sum(ious) / len(ious))  # the mean of the classes it scored
    state = torch.load(trained_run / "checkpoints/last.pt", weights_only=False)
    assert {"model", "optimizer", "scheduler", "iteration", "rng", "config"} <= set(state)
    assert state["iteration"] == 4


def test_tensorboard_holds_curves_images_and_hparams(trained_run):
    events = sorted(trained_run.glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file"
    acc = EventAccumulator(str(trained_run), size_guidance={"scalars": 0, "images": 0}).Reload()
    scalars = set(acc.Tags()["scalars"])
    for tag in ("train/loss", "train/loss_ce", "train/loss_aux", "train/lr", "train/images_per_s",
                "val/mIoU", "val/mAcc", "val/aAcc", "val_class_IoU/road"):
        assert tag in scalars, tag
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in acc.Scalars("val/mIoU")] == [2, 4]
    last = acc.Scalars("val/mIoU")[-1].value
    assert last == pytest.approx(json.loads((trained_run / "metrics.json").read_text())["mIoU"], abs=1e-4)
    images = acc.Tags()["images"]
    assert "val/images/0" in images
    panel = acc.Images("val/images/0")[-1]
    assert panel.width == 3 * 64 and panel.height == 48  # input | ground truth | prediction
    assert "val/confusion_matrix" in images and "val/per_class_IoU" in images
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    assert acc.Scalars("hparam/mIoU")[-1].value == pytest.approx(last, abs=1e-4)


def test_eval_reproduces_the_final_metrics(trained_run, tmp_path):
    out = tmp_path / "eval.json"
    result = run_tool("eval.py", f"run_dir={trained_run}", f"output={out}", "device=cpu")
    assert "mIoU" in result.stdout and "road" in result.stdout
    evaluated = json.loads(out.read_text())
    best = torch.load(trained_run / "checkpoints/best.pt", weights_only=False)
    assert best["best"]["name"] == "mIoU" and best["best"]["value"] == pytest.approx(evaluated["mIoU"], abs=1e-6)
    run_tool("eval.py", f"run_dir={trained_run}", "device=cpu")
    assert json.loads((trained_run / "eval.json").read_text()) == evaluated


def test_infer_writes_label_maps_at_input_size(trained_run, tmp_path):
    images = tmp_path / "in"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a", (37, 53)), ("b", (64, 48))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(images / f"{name}.jpg")
    out = tmp_path / "out"
    run_tool("infer.py", f"checkpoint={trained_run / 'checkpoints/last.pt'}", f"input={images}", f"output={out}", "device=cpu")
    for name, size in (("a", (37, 53)), ("b", (64, 48))):
        labels = np.asarray(Image.open(out / f"{name}.png"))
        assert labels.shape == size and labels.max() < len(CLASSES)
        assert Image.open(out / f"{name}_overlay.jpg").size == (size[1], size[0])


def test_config_typo_names_the_key(tmp_path):
    result = run_tool("train.py", *tiny_overrides(tmp_path), "trainer.max_iter=5", check=False)
    assert result.returncode != 0
    assert "trainer.max_iter" in result.stderr


def test_unknown_block_names_choices(tmp_path):
    result = run_tool("train.py", *tiny_overrides(tmp_path), "model.neck.name=strip_pool", check=False)
    assert result.returncode == 2
    assert "unknown neck 'strip_pool'" in result.stderr and "strip_pooling" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_folder_dataset_is_one_line(tmp_path):
    overrides = [o for o in tiny_overrides(tmp_path) if not o.startswith("dataset.")]
    result = run_tool("train.py", *overrides, "dataset=folder", f"dataset.root={tmp_path / 'nope'}", check=False)
    assert result.returncode == 2
    assert str(tmp_path / "nope") in result.stderr and "Traceback" not in result.stderr


def test_resume_continues_from_last(tmp_path):
    run_tool("train.py", *tiny_overrides(tmp_path))
    result = run_tool("train.py", f"run_dir={tmp_path / 'run'}", "trainer.max_iters=3", "resume=true",
                      "resume_allow_changes=true")  # a longer schedule is a change the user must ask for
    assert "resumed from" in result.stdout and "at iteration 2" in result.stdout
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=False)
    assert state["iteration"] == 3


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_last_checkpoint(tmp_path, sig):
    overrides = tiny_overrides(tmp_path, **{"trainer.max_iters": "1000", "trainer.eval_interval": "1000"})
    command = [sys.executable, str(REPO / "tools/train.py"), *overrides]
    code, stdout, stderr = launch_and_signal(command, REPO, sig, whole_group=False)
    assert code == 128 + sig, stderr[-2000:]
    assert "resume=true" in stdout
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=False)
    assert 1 <= state["iteration"] < 1000
