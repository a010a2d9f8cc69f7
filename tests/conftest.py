"""Shared test helpers: compose the real Hydra configs, with tiny data and models."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# W&B never touches the network in tests (the wandb logger is offline by default too), nor prints
for _key, _value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true",
                     "WANDB_DISABLE_CODE": "true", "WANDB_CONSOLE": "off", "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}.items():
    os.environ.setdefault(_key, _value)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def tiny_overrides(tmp: Path, **extra: str) -> list[str]:
    """Overrides for a seconds-long CPU run on a tiny synthetic set cached under ``tmp``."""
    values = {
        "device": "cpu",
        "model/backbone": "resnet18",
        "dataset.num_train": "4",
        "dataset.num_val": "2",
        "dataset.image_size": "[48,64]",
        "dataset.cache_dir": str(tmp / "cache"),
        "trainer.max_iters": "2",
        "trainer.eval_interval": "2",
        "trainer.batch_size": "2",
        "trainer.crop_size": "[32,32]",
        "trainer.num_workers": "0",
        "trainer.log_interval": "1",
        "trainer.num_vis_images": "1",
        "model.head.channels": "16",
        "model.aux_head.channels": "16",
        "run_dir": str(tmp / "run"),
    }
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


def folder_overrides(tmp: Path, root: Path, **extra: str) -> list[str]:
    """:func:`tiny_overrides` on the folder dataset ``root`` (default one step, one evaluation) into ``tmp/run``."""
    values = {"trainer.max_iters": "1", "trainer.eval_interval": "1", "trainer.crop_size": "[16,16]", **extra}
    kept = [o for o in tiny_overrides(tmp, **values) if not o.startswith("dataset.")]
    return [*kept, "dataset=folder", f"dataset.root={root}"]


@pytest.fixture(scope="session")
def finished_folder_run(tmp_path_factory) -> tuple[Path, Path]:
    """(a folder dataset made by ``data_layouts.make_folder``, a finished one-step run on it), made once per
    session (tests/guarantees); never change them, copy them."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from data_layouts import make_folder
    from segfw.apis.train import train
    from segfw.config import register_schemas

    tmp = tmp_path_factory.mktemp("finished_folder_run")
    root = make_folder(tmp / "ds")
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        train(hydra_compose("train", folder_overrides(tmp, root)))
    return root, tmp / "run"


@pytest.fixture
def compose():
    """``compose(config_name, overrides)`` → the composed config, as the tools would see it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from segfw.config import register_schemas

    register_schemas()

    def run(config_name: str, overrides: list[str]):
        with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
            return hydra_compose(config_name=config_name, overrides=overrides)

    return run


def launch_and_signal(command: list[str], cwd: Path, sig: int = signal.SIGTERM, whole_group: bool = True,
                      env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Start ``command`` in its own process group, wait until it reports its second training step, then send
    ``sig`` to the whole group (as SLURM, systemd and `timeout` do) or to the main process alone.
    Returns (exit code, stdout, stderr)."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda: out.append(process.stdout.read()), daemon=True),
               threading.Thread(target=lambda: err.extend(iter(lambda: process.stderr.read(1), "")), daemon=True)]
    for reader in readers:  # one reader per pipe (communicate() would race the stderr reader for characters)
        reader.start()
    deadline = time.time() + 300
    while not re.search(r"\| *[2-9]\d*/1000", "".join(err)) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    if whole_group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    process.wait(timeout=300)
    for reader in readers:
        reader.join(timeout=60)
    return process.returncode, "".join(out), "".join(err)


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.cuda`` tests run where a CUDA GPU is, and are skipped with the reason elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marker cuda); this machine has none")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


# the class names of the synthetic dataset that tiny_overrides trains on
CLASSES = ["sky", "building", "road", "sidewalk", "pole", "fence", "car", "vegetation"]


def run_tool(tool: str, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python tools/<tool> overrides...`` from the repository root; raises with its output when it fails."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([sys.executable, str(REPO / "tools" / tool), *overrides], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{tool} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
