"""Each tool accepts only the keys it reads, and a saved run takes command-line overrides key by key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from conftest import REPO
from segfw.apis.run import merge_run_config
from segfw.cli import override_problem


@pytest.mark.parametrize("tool, override, closest", [
    ("export", "trainer.max_iters=5", None),  # export never trains
    ("export", "device=cuda", None),  # export always runs on the CPU
    ("infer", "trainer.amp=true", None),
    ("benchmark", "dataset.root=/data", None),
    ("eval", "model.head.channels=8", None),  # the model comes from the checkpoint
    ("eval", "optimizer.lr=0.1", None),
    ("eval", "trainer.max_iters=5", None),
    ("browse", "model/neck=strip_pooling", None),
    ("train", "trainer.max_iter=5", "trainer.max_iters"),
    ("train", "test.fip=true", "test.flip"),
    ("eval", "test.fip=true", "test.flip"),
    ("export", "input_sise=[64,64]", "input_size"),
    ("browse", "trainer.crop_sise=[64,64]", "trainer.crop_size"),
    ("convert_checkpoint", "trainer.max_iters=5", None),
])
def test_a_key_the_tool_does_not_read_is_one_line_naming_it(tool, override, closest):
    problem = override_problem(tool, [override], f"tools/{tool}.py")
    key = override.split("=")[0]
    assert problem is not None and f"'{key}'" in problem and "\n" not in problem, problem
    if closest:
        assert f"did you mean '{closest}'" in problem, problem


@pytest.mark.parametrize("tool, overrides", [
    ("train", ["model/neck=strip_attention", "trainer.max_iters=5", "test.flip=true", "experiment=spnet_r50_ade20k"]),
    ("train", ["--multirun", "model/neck=strip_pooling,identity", "seed=0,1"]),
    ("eval", ["run_dir=R", "test.mode=slide", "test.crop_size=[64,64]", "dataset=folder", "dataset.root=/d",
              "trainer.num_workers=0", "output=e.json", "save_predictions=P", "device=cpu", "model.threshold=0.3"]),
    ("infer", ["checkpoint=C", "input=I", "output=O", "test.flip=true", "alpha=0.3", "device=cpu"]),
    ("export", ["run_dir=R", "format=torchscript", "output=m.pt", "input_size=[64,96]"]),
    ("benchmark", ["model=spnet_r50", "input=[64,64]", "device=cpu", "batch_size=2", "repeats=1"]),
    ("browse", ["dataset=folder", "dataset.root=/d", "augment=ade20k", "trainer.crop_size=[64,64]", "n=4"]),
    ("convert_checkpoint", ["from=mmseg", "input=x.pth", "model=fcn_r50-d8", "output=o.pt", "dataset=ade20k",
                            "dataset.root=/d", "test.mode=slide"]),
])
def test_the_documented_keys_are_accepted(tool, overrides):
    assert override_problem(tool, overrides) is None


def test_an_unknown_group_option_names_the_closest():
    problem = override_problem("train", ["model/neck=strip_pool"])
    assert "unknown model/neck 'strip_pool'" in problem and "did you mean 'strip_pooling'" in problem


def test_export_refuses_a_training_key_on_the_real_command_line(tmp_path):
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run([sys.executable, str(REPO / "tools/export.py"), "checkpoint=x.pt", "trainer.max_iters=5"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: tools/export.py does not read 'trainer.max_iters' (its keys: checkpoint, format, input_size, output, "
        "overwrite, run_dir)"]


SAVED = {
    "model": {"name": "m", "head": {"channels": 16}},
    "dataset": {"name": "synthetic", "num_val": 2},
    "augment": {"val": [{"name": "Normalize"}]},
    "trainer": {"num_workers": 2, "amp": False, "crop_size": [32, 32]},
    "test": {"mode": "slide", "crop_size": [64, 64], "stride": [32, 32], "scales": [1.0], "flip": False},
}


def test_a_run_keeps_its_settings_where_the_command_line_is_silent(compose):
    overrides = ["run_dir=R", "test.flip=true"]
    merged = merge_run_config(OmegaConf.create(SAVED), compose("eval", overrides), overrides)
    assert merged.test == {"mode": "slide", "crop_size": [64, 64], "stride": [32, 32], "scales": [1.0], "flip": True}
    assert merged.model == SAVED["model"] and merged.dataset == SAVED["dataset"]


@pytest.mark.parametrize("overrides", [["dataset=folder", "dataset.root=/mine"], ["dataset.root=/mine", "dataset=folder"]])
def test_a_swapped_group_replaces_the_node_and_its_keys_follow_in_any_order(compose, overrides):
    merged = merge_run_config(OmegaConf.create(SAVED), compose("eval", overrides), overrides)
    assert merged.dataset.name == "folder" and merged.dataset.root == "/mine" and "num_val" not in merged.dataset
    assert merged.test.mode == "slide"


def test_a_deleted_key_is_removed():
    merged = merge_run_config(OmegaConf.create(SAVED), OmegaConf.create({}), ["~test.stride"])
    assert "stride" not in merged.test and merged.test.crop_size == [64, 64]


def test_copied_interpolations_resolve_in_the_run(compose):
    overrides = ["augment=default"]
    merged = merge_run_config(OmegaConf.create(SAVED), compose("eval", overrides), overrides)
    crop = next(step for step in merged.augment.train if step.name == "RandomCrop")
    assert (crop.height, crop.width) == (32, 32)  # ${trainer.crop_size} of the run, not of the eval defaults
