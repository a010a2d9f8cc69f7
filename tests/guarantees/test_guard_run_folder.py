"""Issue 21, defects 4, 12 and 14 (SIGTERM at start-up): ``overwrite=true`` deletes the old run only after the new
launch passed every check, and never mixes old and new curves; the run folder is guarded like any output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, folder_overrides
from guard_helpers import copy_run, snapshot
from segfw.apis.train import train
from segfw.errors import BadSampleError, ConfigError


def test_overwrite_with_a_mistyped_dataset_root_deletes_nothing(compose, finished_folder_run, tmp_path):
    """Defect 4: the launch fails on ``classes.txt: not found``; best.pt, last.pt and every other file stay."""
    root, _ = finished_folder_run
    run = copy_run(finished_folder_run, tmp_path)
    before = snapshot(run)
    assert (run / "checkpoints" / "best.pt").is_file() and (run / "checkpoints" / "last.pt").is_file()
    overrides = folder_overrides(tmp_path, Path(f"{root}_typo"), overwrite="true")
    with pytest.raises(BadSampleError, match=r"classes.txt: not found"):
        train(compose("train", overrides))
    assert snapshot(run) == before


def test_overwrite_replaces_the_whole_run_so_curves_never_mix(compose, finished_folder_run, tmp_path):
    """Defect 4: the old TensorBoard events and scalars.jsonl records do not survive into the new run."""
    root, _ = finished_folder_run
    run = copy_run(finished_folder_run, tmp_path)
    old_events = {p.name for p in run.glob("events.out.tfevents.*")}
    assert old_events and (run / "scalars.jsonl").is_file()
    (run / "checkpoints" / "iter_0000009.pt").write_bytes(b"a checkpoint of the old run")
    train(compose("train", folder_overrides(tmp_path, root, overwrite="true")))
    events = {p.name for p in run.glob("events.out.tfevents.*")}
    assert events and not events & old_events
    steps = [json.loads(line)["step"] for line in (run / "scalars.jsonl").read_text().splitlines()]
    records = [(json.loads(line)["step"], tuple(sorted(json.loads(line)))) for line in (run / "scalars.jsonl").read_text().splitlines()]
    assert len(records) == len(set(records)), f"two records for one step: {steps}"
    assert not (run / "checkpoints" / "iter_0000009.pt").exists()


@pytest.mark.parametrize("inside", [".", "masks", "masks/train/new"])
def test_a_run_dir_at_or_inside_the_dataset_is_refused(compose, finished_folder_run, tmp_path, inside):
    """Defect 12: ``run_dir=`` the dataset root, its masks folder, or a new folder inside it."""
    root, _ = finished_folder_run
    before = snapshot(root)
    run_dir = root / inside
    with pytest.raises(ConfigError, match=r"run_dir=.* the dataset root .*give run_dir= a folder outside the dataset"):
        train(compose("train", folder_overrides(tmp_path, root, run_dir=str(run_dir))))
    assert snapshot(root) == before and not (root / "masks" / "train" / "new").exists()


def test_a_folder_that_is_not_a_run_keeps_its_config_yaml(compose, finished_folder_run, tmp_path):
    """Defect 12: an existing folder that is not a run is refused in one line instead of getting a new config.yaml."""
    root, _ = finished_folder_run
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "config.yaml").write_text("my: own settings\n")
    (mine / "notes.txt").write_text("keep")
    before = snapshot(mine)
    for extra in ({}, {"overwrite": "true"}):
        with pytest.raises(ConfigError, match=r"holds files that are not a segfw run \(config.yaml, notes.txt\)"):
            train(compose("train", folder_overrides(tmp_path, root, run_dir=str(mine), **extra)))
    assert snapshot(mine) == before


START_UP = """
import os, signal, sys, time
from omegaconf import OmegaConf
from segfw.engine.run_dir import RunFolder
cfg = OmegaConf.create({"run_dir": sys.argv[1], "resume": False, "overwrite": False, "experiment": "x"})
with RunFolder(cfg):
    print("locked", flush=True)
    time.sleep(60)  # building datasets and the model
"""


def test_sigterm_during_start_up_leaves_no_folder_behind(tmp_path):
    """Defect 14: a SIGTERM before the first checkpoint left a folder holding only ``.lock``."""
    run = tmp_path / "new_run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", START_UP, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "locked" and (run / ".lock").is_file()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert not run.exists()
