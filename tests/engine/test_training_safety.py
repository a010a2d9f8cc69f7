"""Training never destroys a run and ends saved or explained (issue 9, items 2, 4, 5, 6, 8, 9, 10).

In-process runs of the real trainer on tiny data; the signal and exit-code cases are in
test_training_signals.py (they need real processes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_overrides
from segfw.errors import BadSampleError, ConfigError
from segfw.engine.finite_guard import NonFiniteError
from segfw.apis.train import train
from segfw.models.segmentor import Segmentor
from segfw.run_lock import RunFolderBusy, RunLock


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of ``folder`` with its modification time and content."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 2-iteration run (batch 2, crop 32): ``(tmp, run folder)``."""
    from hydra import compose, initialize_config_dir

    from conftest import CONFIGS
    from segfw.config import register_schemas

    tmp = tmp_path_factory.mktemp("trained")
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        train(compose("train", tiny_overrides(tmp)))
    return tmp, tmp / "run"


def copy_run(trained, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(trained[1], tmp_path / "run")
    return tmp_path / "run"


def test_training_into_a_finished_run_needs_resume_or_overwrite(compose, trained, tmp_path):
    run = copy_run(trained, tmp_path)
    before = snapshot(run)
    with pytest.raises(ConfigError, match=r"already holds a trained run .*resume=true.*overwrite=true"):
        train(compose("train", tiny_overrides(trained[0], run_dir=str(run))))
    assert snapshot(run) == before
    train(compose("train", tiny_overrides(trained[0], run_dir=str(run), overwrite="true")))
    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["iteration"] == 2


def test_a_resume_with_another_model_touches_nothing(compose, trained, tmp_path):
    run = copy_run(trained, tmp_path)
    before = snapshot(run)
    overrides = tiny_overrides(trained[0], run_dir=str(run), resume="true") + ["model.head.channels=8"]
    with pytest.raises(ConfigError, match=r"would change the run .*model.head.channels: 16 -> 8"):
        train(compose("train", overrides), overrides)
    with pytest.raises(ConfigError, match="weights do not fit the configured model"):
        train(compose("train", overrides + ["resume_allow_changes=true"]), overrides)
    assert snapshot(run) == before


def test_a_resume_on_other_classes_is_refused(compose, trained, tmp_path):
    run = copy_run(trained, tmp_path)
    before = snapshot(run)
    folder = tmp_path / "folder"
    make_folder_dataset(folder)
    overrides = [f"run_dir={run}", "resume=true", "dataset=folder", f"dataset.root={folder}"]
    with pytest.raises(ConfigError, match="trained on 8 classes .* but the dataset now has 2"):
        train(compose("train", overrides), overrides)
    assert snapshot(run) == before


def test_resume_continues_the_run_as_it_was_configured(compose, trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    overrides = [f"run_dir={run}", "resume=true", "trainer.num_vis_images=0"]  # as a user types it
    cfg = compose("train", overrides + ["device=cpu"])
    assert cfg.trainer.batch_size == 8 and cfg.trainer.max_iters == 800  # the defaults the old code resumed with
    train(cfg, overrides)
    out = capsys.readouterr().out
    assert "trainer.num_vis_images=0 (was 1)" in out
    saved = (run / "config.yaml").read_text()
    assert "batch_size: 2" in saved and "max_iters: 2" in saved and "num_vis_images: 0" in saved
    with pytest.raises(ConfigError, match=r"trainer.max_iters: 2 -> 3.*resume_allow_changes=true"):
        train(compose("train", [f"run_dir={run}", "resume=true", "trainer.max_iters=3"]), ["trainer.max_iters=3"])
    train(compose("train", [f"run_dir={run}", "resume=true", "trainer.max_iters=3", "resume_allow_changes=true"]),
          ["trainer.max_iters=3"])
    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["iteration"] == 3


def test_resume_without_run_dir_picks_the_newest_run_with_a_checkpoint(compose, trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "outputs" / "default"
    copy_run(trained, tmp_path).rename(runs.parent.mkdir(parents=True) or runs.mkdir() or runs / "2020-01-01_00-00-00")
    (runs / "2030-01-01_00-00-00" / "checkpoints").mkdir(parents=True)  # newer, but a failed launch's leftovers
    overrides = ["resume=true", "run_dir=null"]
    train(compose("train", overrides + ["device=cpu", "trainer.max_iters=2"]), overrides)
    assert (runs / "2020-01-01_00-00-00" / "config.yaml").read_text().count("2020-01-01") == 1


def test_a_launch_that_fails_before_its_first_checkpoint_leaves_no_folder(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "folder"
    make_folder_dataset(folder)
    (folder / "images" / "val" / "v0.png").write_bytes(b"not a png")  # corrupt validation image
    overrides = [f"dataset.root={folder}", "dataset=folder", "device=cpu", "trainer.num_workers=0",
                 "trainer.crop_size=[16,16]", "trainer.batch_size=2", "model/backbone=resnet18", "run_dir=null"]
    with pytest.raises(BadSampleError, match=r"v0.png: unreadable"):  # before the first step, not at evaluation
        train(compose("train", overrides))
    assert not (tmp_path / "outputs" / "default").exists() or not any((tmp_path / "outputs" / "default").iterdir())


def test_a_second_training_in_a_locked_folder_is_refused(compose, tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunFolderBusy, match=r"in use by another training \(pid \d+ on host"):
            train(compose("train", tiny_overrides(tmp_path)))


def test_a_non_finite_loss_stops_at_once_and_keeps_the_last_good_checkpoint(compose, tmp_path):
    overrides = tiny_overrides(tmp_path, **{"optimizer.lr": "1e8", "trainer.max_iters": "8",
                                            "trainer.checkpoint_interval": "1", "trainer.eval_interval": "8"})
    with pytest.raises(NonFiniteError, match=r"non-finite (loss at iteration \d+: loss_\w+=nan|weight)") as caught:
        train(compose("train", overrides))
    assert "\n" not in str(caught.value)
    for path in (tmp_path / "run" / "checkpoints").glob("*.pt"):
        state = torch.load(path, weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point()), path
        assert state["iteration"] < 8


def test_a_bounded_number_of_bad_steps_may_be_skipped(compose, tmp_path, monkeypatch):
    original, calls = Segmentor.losses, []

    def nan_on_second_call(self, images, masks):
        calls.append(1)
        losses = original(self, images, masks)
        return {k: v * math.nan for k, v in losses.items()} if len(calls) == 2 else losses

    monkeypatch.setattr(Segmentor, "losses", nan_on_second_call)
    overrides = tiny_overrides(tmp_path, **{"trainer.max_iters": "3", "trainer.eval_interval": "3"})
    with pytest.raises(NonFiniteError, match="non-finite loss at iteration 2"):
        train(compose("train", overrides))
    calls.clear()
    train(compose("train", overrides + ["trainer.max_bad_steps=1", "overwrite=true"]))
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)
    assert state["iteration"] == 3 and all(torch.isfinite(v).all() for v in state["model"].values()
                                           if v.is_floating_point())


def test_batch_size_minus_one_is_refused_at_once(compose, tmp_path):
    with pytest.raises(ConfigError, match=r"trainer.batch_size=-1 is invalid"):
        train(compose("train", tiny_overrides(tmp_path, **{"trainer.batch_size": "-1"})))
    assert not (tmp_path / "run").exists()


def test_a_training_set_with_no_good_sample_stops_instead_of_hanging(compose, tmp_path):
    folder = tmp_path / "folder"
    make_folder_dataset(folder)
    for image in (folder / "images" / "train").iterdir():
        image.write_bytes(b"broken")
    overrides = [f"dataset.root={folder}", "dataset=folder", "dataset.on_bad_sample=skip", "device=cpu",
                 "trainer.num_workers=0", "trainer.crop_size=[16,16]", "trainer.batch_size=2",
                 "model/backbone=resnet18", f"run_dir={tmp_path / 'run'}"]
    with pytest.raises(BadSampleError, match=r"all 4 samples were skipped as bad"):
        train(compose("train", overrides))


def make_folder_dataset(root: Path, size: tuple[int, int] = (16, 16)) -> Path:
    """``root/images/{train,val}``, ``root/masks/{train,val}``, two classes."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 1)):
        for i in range(count):
            name = f"{split[0]}{i}"
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "masks" / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "images" / split / f"{name}.png")
            Image.fromarray(rng.integers(0, 2, size, dtype=np.uint8)).save(root / "masks" / split / f"{name}.png")
    (root / "classes.txt").write_text("background\nthing\n")
    return root
