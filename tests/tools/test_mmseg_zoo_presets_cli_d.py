"""psanet_r50-d8, encnet_r50-d8 and ocrnet_r50-d8 train one step and evaluate through the real
``tools/train.py`` (on a ResNet-18 in the presets' stem and dilation settings, to keep it seconds long),
with their extra losses (EncNet's loss_se, OCRNet's loss_regions) in the run's log."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, tiny_overrides

# preset → its neck and the loss its side head adds
PRESETS = {"psanet_r50-d8": ("point_wise_spatial_attention", None), "encnet_r50-d8": ("context_encoding", "loss_se"),
           "ocrnet_r50-d8": ("object_context", "loss_regions")}


@pytest.mark.slow
def test_presets_train_one_step_and_evaluate(tmp_path):
    """One Hydra multirun (one interpreter start) over the presets, one run folder per job."""
    overrides = tiny_overrides(tmp_path, **{"trainer.max_iters": "1", "trainer.eval_interval": "1",
                                            "run_dir": str(tmp_path / "run_${hydra:job.num}")})
    overrides = [o for o in overrides if not o.startswith("model.aux_head.")]  # ocrnet_r50-d8 has none
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, str(REPO / "tools" / "train.py"), "--multirun", f"model={','.join(PRESETS)}",
               f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    for job, (neck, loss) in enumerate(PRESETS.values()):
        run = tmp_path / f"run_{job}"
        assert f"name: {neck}" in (run / "config.yaml").read_text()
        assert 0.0 <= json.loads((run / "metrics.json").read_text())["mIoU"] <= 100.0  # percent
        if loss:
            logged = "".join(p.read_text() for p in run.rglob("*.jsonl"))
            assert loss in logged, f"{loss} not in {run}'s training log"
