"""Two CPU processes under the real torchrun (gloo): one run folder, rank-0 writes, exact distributed eval."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from conftest import REPO, tiny_overrides


def launch(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def torchrun(tool: str, overrides: list[str], cwd) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "tools" / tool), *overrides]
    return launch(command, cwd)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    overrides = [o for o in tiny_overrides(tmp, **{"trainer.batch_size": "1", "dataset.num_val": "3",
                                                   "trainer.ema.enabled": "true", "trainer.ema.decay": "0.5"})
                 if not o.startswith("run_dir=")]
    torchrun("train.py", overrides, cwd=tmp)
    runs = list((tmp / "outputs" / "default").iterdir())
    return tmp, runs


def test_one_run_folder_written_by_rank_zero(ddp_run):
    _, runs = ddp_run
    assert len(runs) == 1, runs
    run = runs[0]
    writers = {re.search(r"\.(\d+)\.\d+$", p.name).group(1) for p in run.glob("events.out.tfevents.*")}
    assert len(writers) == 1, "more than one process wrote TensorBoard events"
    assert (run / "checkpoints/last.pt").is_file() and (run / "metrics.json").is_file()


def test_distributed_eval_equals_single_process(ddp_run):
    tmp, (run,) = ddp_run
    during_training = json.loads((run / "metrics.json").read_text())
    single = tmp / "single.json"
    launch([sys.executable, str(REPO / "tools/eval.py"), f"run_dir={run}", f"output={single}", "device=cpu"], tmp)
    two = tmp / "two.json"
    torchrun("eval.py", [f"run_dir={run}", f"output={two}", "device=cpu"], cwd=tmp)
    single_metrics, two_metrics = json.loads(single.read_text()), json.loads(two.read_text())
    assert two_metrics == single_metrics
    during_training.pop("best")  # training's own record of its best checkpoint; eval reports the metrics only
    assert during_training == single_metrics


def test_the_weight_average_under_ddp_is_scored_as_one_process_scores_it(ddp_run):
    """Each rank keeps the average of the unwrapped model; their joint evaluation is what ema.pt records."""
    tmp, (run,) = ddp_run
    ema = torch.load(run / "checkpoints/ema.pt", weights_only=True)
    single = tmp / "single_ema.json"
    launch([sys.executable, str(REPO / "tools/eval.py"), f"checkpoint={run / 'checkpoints/ema.pt'}", f"output={single}",
            "device=cpu"], tmp)
    assert json.loads(single.read_text()) == ema["ema"]["summary"]
