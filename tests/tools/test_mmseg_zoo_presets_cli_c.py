"""dnl_r50-d8, ann_r50-d8, apcnet_r50-d8 and dmnet_r50-d8 train one step and evaluate through the real ``tools/train.py``
(on a ResNet-18 in the presets' stem and dilation settings, to keep it seconds long)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, tiny_overrides


PRESETS = {"dnl_r50-d8": "disentangled_non_local", "ann_r50-d8": "asymmetric_non_local",
           "apcnet_r50-d8": "adaptive_context", "dmnet_r50-d8": "dynamic_filters"}  # preset → its neck


@pytest.mark.slow
def test_presets_train_one_step_and_evaluate(tmp_path):
    """One Hydra multirun (one interpreter start) over the presets, one run folder per job."""
    overrides = tiny_overrides(tmp_path, **{"trainer.max_iters": "1", "trainer.eval_interval": "1",
                                            "run_dir": str(tmp_path / "run_${hydra:job.num}")})
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, str(REPO / "tools" / "train.py"), "--multirun", f"model={','.join(PRESETS)}",
               f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    for job, neck in enumerate(PRESETS.values()):
        run = tmp_path / f"run_{job}"
        assert f"name: {neck}" in (run / "config.yaml").read_text()
        assert 0.0 <= json.loads((run / "metrics.json").read_text())["mIoU"] <= 100.0  # percent
