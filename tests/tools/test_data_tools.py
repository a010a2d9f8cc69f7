"""The data tools as a user runs them: browse_dataset (Hydra) and convert_dataset, including bad input in workers."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO
from data_layouts import label_with, make_ade20k, write_label
from PIL import Image

from segfw.apis.browse import display_config, sample_batches
from segfw.engine.data import build_split, build_train_stream
from segfw.registry import DATASETS

ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}


def run_tool(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "tools" / tool), *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        timeout=120,
    )


def browse(root, output, *extra: str) -> subprocess.CompletedProcess:
    return run_tool(
        "browse_dataset.py",
        "dataset=ade20k",
        f"dataset.root={root}",
        "augment=ade20k",
        "trainer.crop_size=[32,40]",
        "trainer.num_workers=2",
        "n=3",
        f"output={output}",
        *extra,
    )


def test_browse_writes_a_grid_of_augmented_samples(tmp_path):
    make_ade20k(tmp_path / "ds", list(range(151)), counts=(("training", 4),))
    result = browse(tmp_path / "ds", tmp_path / "grid.png", "columns=2")  # outside the dataset root (issue 21)
    assert result.returncode == 0, result.stderr
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    tile_w = 2 * 40 + 2  # image | overlay
    assert grid.shape == (2 * 32 + 2, 2 * tile_w + 2, 3)
    assert grid[:32, :40].std() > 0 and not np.array_equal(grid[:32, :40], grid[:32, 42:82])  # overlay differs


def test_browse_shows_the_samples_a_training_run_draws(compose, tmp_path):
    """One loading stack: browse's first samples are those a training run with the same seed starts with,
    cropped, scaled and flipped alike (the batch size does not matter)."""
    data = [f"dataset.cache_dir={tmp_path}", "dataset.num_train=6", "dataset.num_val=1", "dataset.image_size=[24,32]",
            "trainer.crop_size=[16,16]", "trainer.num_workers=0", "seed=5"]
    train_cfg = compose("train", [*data, "trainer.batch_size=2"])
    browse_cfg = compose("browse", [*data, "n=2"])
    training = next(iter(build_train_stream(build_split(train_cfg, "train"), train_cfg)))
    batches = iter(sample_batches(build_split(display_config(browse_cfg), "train"), browse_cfg))
    browsed = [next(batches) for _ in range(2)]
    assert [batch["name"][0] for batch in browsed] == training["name"]
    for i, batch in enumerate(browsed):
        assert torch.equal(batch["mask"][0], training["mask"][i])
    assert browsed[0]["image"].dtype == torch.uint8  # shown before Normalize


def test_bad_sample_in_a_worker_stops_the_tool_with_one_line(tmp_path):
    make_ade20k(tmp_path / "ds", [1, 2], counts=(("training", 3),))
    label = tmp_path / "ds" / "ADEChallengeData2016" / "annotations" / "training" / "ADE_train_00000002.png"
    write_label(label, label_with([1, 200]))
    result = browse(tmp_path / "ds", tmp_path / "grid.png", "dataset.on_bad_sample=fail")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {label}: label values 200 are not ADE20K ids (expected 0..150, 255)"
    assert not (tmp_path / "grid.png").exists()

    skipped = browse(tmp_path / "ds", tmp_path / "grid.png", "dataset.on_bad_sample=skip")  # n=3 > 2 good: reads all
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped 1 bad sample(s)" in skipped.stdout and "label values 200" in skipped.stdout + skipped.stderr
    assert (tmp_path / "grid.png").is_file()


def test_convert_tool_reports_a_missing_root_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["convert_dataset.py", "name=cityscapes", f"root={tmp_path / 'nowhere'}", "workers=2"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / "tools" / "convert_dataset.py"), run_name="__main__")
    assert exit_.value.code == 2 and capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'nowhere' / 'gtFine'}: Cityscapes gtFine folder "
        "(root must hold leftImg8bit/ and gtFine/) not found"
    ]


def test_benchmark_stand_ins_load_through_the_recipes(tmp_path):
    from segfw.analysis.data_benchmark import SETTINGS, images_per_second

    ade, cityscapes = SETTINGS
    assert images_per_second(ade, ade.write(tmp_path / "ade", 2), workers=0, batch_size=1, batches=1) > 0
    root = cityscapes.write(tmp_path / "cityscapes", 1)
    sample = DATASETS.build({"name": "cityscapes", "root": str(root)}, split="train")[0]
    assert sample["image"].shape == (1024, 2048, 3) and sample["mask"].max() < 19
