"""A run folder records itself: rank 0's console in log.txt, the code version and environment in env.json."""

from __future__ import annotations

import json

import torch

from conftest import run_tool
from conftest import tiny_overrides


def test_train_writes_log_txt_and_env_json(tmp_path):
    result = run_tool("train.py", *tiny_overrides(tmp_path))
    run = tmp_path / "run"
    log = (run / "log.txt").read_text()
    assert "iteration 2: evaluation on 2 images" in log and "mIoU" in log and "\r" not in log
    assert "iteration 2: evaluation on 2 images" in result.stdout
    env = json.loads((run / "env.json").read_text())
    assert env["packages"]["torch"] == torch.__version__.split("+")[0]
    assert len(env["git"]["commit"]) == 40 and isinstance(env["git"]["dirty"], bool)
    assert env["device"] == "cpu" and env["processes"] == 1 and "trainer.max_iters=2" in env["argv"]
