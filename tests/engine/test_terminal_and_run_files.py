"""What a run tells the user and leaves for scripts: banner, smoothed bar, end summary, metrics.json,
confusion.csv, scalars.jsonl (= the TensorBoard scalars), best.pt by any metric; sweeps that optimise it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, tiny_overrides
from conftest import CLASSES, run_tool


@pytest.fixture(scope="module")
def dice_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("terminal")
    overrides = tiny_overrides(tmp, **{"trainer.max_iters": "4", "trainer.eval_interval": "2",
                                       "trainer.best_metric": "mDice", "model/loss": "dice_ce"})
    result = run_tool("train.py", *overrides)
    return tmp / "run", result.stdout + result.stderr


def test_banner_says_where_what_and_how_to_resume(dice_run):
    run, output = dice_run
    assert f"run folder  {run}" in output
    assert "device      cpu" in output
    assert "data        train 4, val 2 images" in output
    assert "M parameters" in output
    resume = next(line for line in output.splitlines() if line.startswith("resume with "))
    assert f"run_dir={run} resume=true" in resume and "model/loss=dice_ce" in resume


def test_eval_bar_has_its_total_and_the_end_summary_names_the_files(dice_run):
    run, output = dice_run
    assert "eval: 100%" in output and "2/2" in output
    metrics = json.loads((run / "metrics.json").read_text())
    best = metrics["best"]
    assert best["name"] == "mDice" and best["iteration"] in (2, 4)
    assert f"best mDice  {best['value']:.2f} at iteration {best['iteration']}" in output
    assert str(run / "checkpoints" / "best.pt") in output and str(run / "metrics.json") in output
    assert f"tensorboard --logdir {run}" in output
    state = torch.load(run / "checkpoints" / "best.pt", weights_only=False)
    assert state["iteration"] == best["iteration"] and state["best"]["value"] == pytest.approx(best["value"])


def test_confusion_csv_matches_the_metrics(dice_run):
    run, _ = dice_run
    rows = list(csv.reader((run / "confusion.csv").open()))
    assert rows[0][1:] == CLASSES and [r[0] for r in rows[1:]] == CLASSES
    counts = [[int(v) for v in r[1:]] for r in rows[1:]]
    metrics = json.loads((run / "metrics.json").read_text())
    total = sum(map(sum, counts))
    assert metrics["aAcc"] == pytest.approx(100 * sum(counts[i][i] for i in range(len(CLASSES))) / total)


def test_scalars_jsonl_mirrors_tensorboard(dice_run):
    run, _ = dice_run
    mirrored = {}
    for line in (run / "scalars.jsonl").read_text().splitlines():
        record = json.loads(line)
        step = record.pop("step")
        mirrored.update({(tag, step): value for tag, value in record.items()})
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
    board = {(tag, e.step): e.value for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)}  # hparam/* too
    assert set(mirrored) == set(board)
    assert {("train/loss_dice", 4), ("train/loss_aux_ce", 4), ("val/mDice", 4)} <= set(mirrored)
    for key, value in board.items():
        assert mirrored[key] == pytest.approx(value, rel=1e-6), key


def test_best_mode_min_keeps_the_lowest(tmp_path):
    """A metric to minimise: best.pt keeps the iteration with the lowest value (here 100 - mIoU stand-in: aAcc min)."""
    overrides = tiny_overrides(tmp_path, **{"trainer.max_iters": "4", "trainer.eval_interval": "1",
                                            "trainer.best_metric": "aAcc", "trainer.best_mode": "min"})
    run_tool("train.py", *overrides)
    values = [json.loads(line)["val/aAcc"] for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()
              if "val/aAcc" in line]
    best = json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]
    assert len(values) == 4 and best["value"] == pytest.approx(min(values)) and best["mode"] == "min"


def test_unknown_best_metric_is_one_line(tmp_path):
    result = run_tool("train.py", *tiny_overrides(tmp_path, **{"trainer.best_metric": "mIOU"}), check=False)
    assert result.returncode == 2
    assert "trainer.best_metric=mIOU" in result.stderr and "mIoU" in result.stderr


@pytest.mark.slow
def test_optuna_sweep_optimises_what_train_returns(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    overrides = [o for o in tiny_overrides(tmp_path) if not o.startswith("run_dir=")]
    command = [sys.executable, str(REPO / "tools" / "train.py"), "--multirun", "sweep=optuna",
               "hydra.sweeper.n_trials=2", *overrides]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted((tmp_path / "outputs" / "default").iterdir())
    assert len(runs) == 2
    values = [json.loads((run / "metrics.json").read_text())["best"]["value"] for run in runs]
    reported = float(done.stdout.split("Best value: ")[1].split()[0] if "Best value: " in done.stdout
                     else done.stderr.split("Best value: ")[1].split()[0])
    assert reported == pytest.approx(max(values))
