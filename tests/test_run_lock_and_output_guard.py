"""One training per run folder, stale locks taken over (issue 9, item 5); outputs never inside inputs (item 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segfw.output_guard import refuse_output_inside_inputs
from segfw.errors import ConfigError
from segfw.run_lock import RunFolderBusy, RunLock

HOLD = "import sys, time; from segfw.run_lock import RunLock; lock = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"


def holder(run_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_training_is_refused_naming_the_first(tmp_path):
    process = holder(tmp_path)
    try:
        with pytest.raises(RunFolderBusy, match=rf"in use by another training \(pid {process.pid} on host "):
            RunLock(tmp_path).acquire()
    finally:
        process.kill()
        process.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    process = holder(tmp_path)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (tmp_path / ".lock").exists()  # the file stays, the lock does not
    with RunLock(tmp_path) as lock:
        assert lock.took_over["pid"] == process.pid
    assert not (tmp_path / ".lock").exists()


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunFolderBusy):
            RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire().release()


def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "masks" / "val").mkdir(parents=True)
    (root / "images" / "val").mkdir(parents=True)
    return root


@pytest.mark.parametrize("relative", ["data", "data/masks/val", "data/masks/val/new"])
def test_an_output_at_or_inside_the_dataset_is_refused(tmp_path, relative):
    root = dataset(tmp_path)
    with pytest.raises(ConfigError, match=r"save_predictions=.* the dataset root .*give save_predictions= a path outside it"):
        refuse_output_inside_inputs(tmp_path / relative, "save_predictions", {"dataset root": root})


def test_symlinks_are_followed_both_ways(tmp_path):
    root = dataset(tmp_path)
    (tmp_path / "link").symlink_to(root / "masks")
    with pytest.raises(ConfigError):
        refuse_output_inside_inputs(tmp_path / "link" / "val", "output", {"dataset root": root})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "images" / "extra").symlink_to(outside)  # a folder of the dataset that lives elsewhere
    with pytest.raises(ConfigError):
        refuse_output_inside_inputs(outside, "output", {"dataset root": root})


def test_a_file_input_protects_its_folder_and_other_outputs_pass(tmp_path):
    photo = tmp_path / "photos" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"")
    with pytest.raises(ConfigError, match="is the input"):
        refuse_output_inside_inputs(photo.parent, "output", {"input": photo})
    refuse_output_inside_inputs(tmp_path / "predictions", "output", {"input": photo, "dataset root": None})
