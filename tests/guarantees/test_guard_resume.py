"""Resume continues the run it names (issue 21, defects 6, 9, 10, 14): after torchrun the printed command
repeats the launcher and the process count, a resume on another process count is refused (it changes the
global batch), every printed command pastes into bash as it is (a run folder with a space and a comma), the
dataset may move on resume and eval without naming its group, the run's device is kept, and env.json keeps
the original launch."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, tiny_overrides
from data_layouts import make_folder
from segfw.apis.evaluate import evaluate_checkpoint
from segfw.apis.train import train
from segfw.cli import override_problem, saved_dataset_overrides


def printed(output: str, prefix: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(prefix))[len(prefix):]


def test_torchrun_resume_command_and_another_world_size(tmp_path):
    run = tmp_path / "run a,b"
    overrides = [*tiny_overrides(tmp_path, **{"model/backbone": "lite_resnet", "trainer.max_iters": "1",
                                              "trainer.eval_interval": "1", "trainer.num_vis_images": "0"})[:-1],
                 f"run_dir='{run}'"]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(REPO / "tools" / "train.py"), *overrides], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    command = printed(done.stdout, "resume with ")
    assert command.startswith("torchrun --nproc_per_node=2 ") and command.endswith(" resume=true")
    assert shlex.split(printed(done.stdout, "curves       ")) == ["tensorboard", "--logdir", str(run)]
    last = run / "checkpoints" / "last.pt"
    before = last.stat().st_mtime_ns
    # the printed command through bash on one process: Hydra reads the quoted run folder (it finds the run)
    # and the changed process count is refused with one line naming the command to use
    single = subprocess.run(["bash", "-c", command.replace("torchrun --nproc_per_node=2", "python", 1)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 2, single.stderr[-3000:]
    error = single.stderr.strip()
    assert error.startswith(f"error: resume=true: the run in {run} was trained on 2 process(es) (global batch 4), "
                            "this launch has 1 (global batch 2)") and "\n" not in error
    suggested = error.partition("continue it with: ")[2].removesuffix(" (or add resume_allow_changes=true)")
    assert suggested.replace("++dataset.", "dataset.") == command  # dataset keys of a resume: '++' (see cli)
    assert last.stat().st_mtime_ns == before


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A finished run on a folder dataset, whose data then moved to a folder with a space in its name."""
    tmp = tmp_path_factory.mktemp("moved")
    data = make_folder(tmp / "data", {"train": 4, "val": 1}, size=(16, 16))
    overrides = ["dataset=folder", f"dataset.root={data}", "device=cpu", "model/backbone=resnet18",
                 "model.head.channels=8", "model.aux_head.channels=8", "trainer.max_iters=1",
                 "trainer.eval_interval=1", "trainer.batch_size=2", "trainer.crop_size=[16,16]",
                 "trainer.num_workers=0", "trainer.num_vis_images=0", f"run_dir={tmp / 'run'}"]
    train(compose_train(overrides), overrides)
    moved = tmp / "moved data"
    shutil.move(data, moved)
    return tmp / "run", moved


def compose_train(overrides, name="train"):
    from hydra import compose, initialize_config_dir

    from conftest import CONFIGS
    from segfw.config import register_schemas

    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        return compose(config_name=name, overrides=overrides)


def test_resume_on_moved_data_keeps_device_and_the_first_launch(folder_run, capsys):
    run, moved = folder_run
    first = json.loads((run / "env.json").read_text())
    argv = saved_dataset_overrides("train", [f"run_dir={run}", "resume=true", f"dataset.root={moved}"])
    assert override_problem("train", argv) is None  # was: tools/train.py does not read 'dataset.root'
    train(compose_train(argv), argv)
    out = capsys.readouterr().out
    assert f"resume: the saved config with dataset.root={moved} (was {moved.parent / 'data'})" in out
    assert "device=" not in out.partition("resume: ")[2].splitlines()[0]  # the default 'auto' did not replace 'cpu'
    assert yaml.safe_load((run / "config.yaml").read_text())["device"] == "cpu"
    env = json.loads((run / "env.json").read_text())
    assert env["command"] == first["command"] and env["time"] == first["time"]
    assert len(env["resumes"]) == 1 and env["resumes"][0]["time"] >= first["time"]


def test_eval_of_a_checkpoint_on_moved_data(folder_run, tmp_path):
    run, moved = folder_run
    argv = saved_dataset_overrides("eval", [f"checkpoint={run / 'checkpoints' / 'last.pt'}", f"dataset.root={moved}",
                                            "device=cpu", f"output={tmp_path / 'eval.json'}"])
    assert override_problem("eval", argv) is None
    summary = evaluate_checkpoint(compose_train(argv, "eval"), argv)
    assert json.loads((tmp_path / "eval.json").read_text())["mIoU"] == summary["mIoU"]
