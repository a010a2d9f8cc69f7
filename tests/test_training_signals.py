"""SIGTERM to the whole process group, and through torchrun, saves last.pt and prints the resume command
(issue 9, item 3). Real processes: the signal reaches every process as a cluster sends it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from conftest import REPO, tiny_overrides


def launch_and_signal(command: list[str], cwd: Path, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    """Start ``command`` in its own process group, wait for the first training steps, signal the whole group."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: process.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.time() + 300
    while not re.search(r"\| *[2-9]\d*/1000", "".join(err)) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, sig)  # what SLURM, systemd and `timeout` do
    out, _ = process.communicate(timeout=300)
    reader.join(timeout=10)
    return process.returncode, out, "".join(err)


def long_run(tmp_path: Path, **extra: str) -> list[str]:
    return tiny_overrides(tmp_path, **{"trainer.max_iters": "1000", "trainer.eval_interval": "1000", **extra})


def assert_saved(run: Path, out: str, err: str) -> None:
    """last.pt written, the resume command printed, no worker died, no traceback from segfw (torchrun's own
    agent reports the signal it got with a traceback of torch.distributed.run: that one is not ours)."""
    assert "killed by signal" not in err and "DataLoader worker" not in err, err[-3000:]
    assert not re.search(r'File ".*(segfw|tools/train\.py)', err), err[-3000:]
    assert f"run_dir={run} resume=true" in out, out[-2000:]
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert 1 <= state["iteration"] < 1000


def test_sigterm_to_the_process_group_with_workers_saves_and_exits(tmp_path):
    command = [sys.executable, str(REPO / "tools/train.py"), *long_run(tmp_path, **{"trainer.num_workers": "2"})]
    code, out, err = launch_and_signal(command, REPO)
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err
    assert_saved(tmp_path / "run", out, err)


def test_sigterm_to_torchrun_and_its_workers_saves_and_exits(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "tools/train.py"), *long_run(tmp_path, **{"trainer.batch_size": "1"})]
    code, out, err = launch_and_signal(command, tmp_path)
    assert code != 0
    assert "got signal: 15" in err  # torchrun's agent got it, forwarded it, and its workers saved
    assert_saved(tmp_path / "run", out, err)
