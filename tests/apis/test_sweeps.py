"""Hydra sweeps: the basic launcher gives every job its own run folder; the SLURM launcher config composes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from conftest import CONFIGS, REPO
from hydra import compose, initialize_config_dir

from segfw.config import register_schemas

TINY = [
    "device=cpu", "dataset.num_train=4", "dataset.num_val=2", "dataset.image_size=[48,64]", "trainer.max_iters=1",
    "trainer.eval_interval=1", "trainer.batch_size=2", "trainer.crop_size=[32,32]", "trainer.num_workers=0",
    "trainer.num_vis_images=0", "model.head.channels=16", "model.aux_head.channels=16",
]


@pytest.mark.slow
def test_multirun_gives_each_job_its_own_run_folder(tmp_path):
    command = [sys.executable, str(REPO / "tools" / "train.py"), "--multirun",
               "model/neck=strip_pooling,strip_attention", "seed=0,1", f"dataset.cache_dir={tmp_path / 'cache'}", *TINY]
    done = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted((tmp_path / "outputs" / "default").iterdir())
    configs = [yaml.safe_load((run / "config.yaml").read_text()) for run in runs]
    jobs = sorted((cfg["model"]["neck"]["name"], cfg["seed"]) for cfg in configs)
    assert jobs == [("strip_attention", 0), ("strip_attention", 1), ("strip_pooling", 0), ("strip_pooling", 1)]
    assert all((run / "metrics.json").is_file() and (run / "checkpoints" / "last.pt").is_file() for run in runs)
    assert [cfg["run_dir"] for cfg in configs] == [str(run.relative_to(tmp_path)) for run in runs]


def test_slurm_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("train", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                                "hydra.launcher.gpus_per_node=1"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 1, 1)
    assert launcher.submitit_folder == "outputs/.submitit/%j"
