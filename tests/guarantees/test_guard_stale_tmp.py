"""Issue 21, defect 8: temporary files that killed atomic writes left (``.last.pt.<random>.tmp``) are removed at the
next start in that folder (the run folder and its checkpoints/), not kept forever; other files stay."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from conftest import folder_overrides
from guard_helpers import copy_run
from segfw.apis.train import train


def leftover_of_a_killed_write(target: Path) -> Path:
    """What ``kill -9`` during ``atomic_write(target, ...)`` leaves: its temporary file, named as it names them."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.write(handle, b"half a file")
    os.close(handle)
    return Path(name)


def test_a_resume_removes_the_temporaries_of_killed_writes(compose, finished_folder_run, tmp_path):
    root, run = finished_folder_run[0], copy_run(finished_folder_run, tmp_path)
    stale = [leftover_of_a_killed_write(run / "checkpoints" / "last.pt") for _ in range(3)]
    stale.append(leftover_of_a_killed_write(run / "config.yaml"))
    (run / "notes.tmp").write_text("mine")
    (run / ".draft.tmp").write_text("mine too")
    overrides = folder_overrides(tmp_path, root, resume="true", resume_allow_changes="true",
                                 **{"trainer.max_iters": "2", "trainer.eval_interval": "2"})
    train(compose("train", overrides), overrides)
    assert not [path.name for path in stale if path.exists()]
    assert (run / "notes.tmp").read_text() == "mine" and (run / ".draft.tmp").read_text() == "mine too"
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["iteration"] == 2
