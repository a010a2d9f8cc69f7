"""The loggers by name: ``tools/train.py trainer.loggers=[...]`` trains, resumes into the same records, and every
store holds the run's curves, images, config and final metrics, read back with each library's own reader
(TensorBoard's EventAccumulator, MLflow's MlflowClient, W&B's offline run files through ``wandb.proto``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, tiny_overrides
from segfw.engine.loggers import build_loggers
from segfw.engine.loggers.base import require
from segfw.errors import ConfigError
from segfw.registry import LOGGERS
from wandb_records import run_contents

ALL = "[tensorboard,jsonl,csv,mlflow,wandb]"


def train(*overrides: str) -> None:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), *overrides], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """Two steps with every logger, then ``resume=true`` to four steps (evaluations at 2 and 4)."""
    tmp = tmp_path_factory.mktemp("loggers")
    train(*tiny_overrides(tmp, **{"trainer.loggers": ALL}))
    train(f"run_dir={tmp / 'run'}", "resume=true", "resume_allow_changes=true", "trainer.max_iters=4")
    run = tmp / "run"
    return run, json.loads((run / "metrics.json").read_text())


def test_tensorboard_holds_both_parts_of_the_run(tracked_run):
    run, metrics = tracked_run
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0}).Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("val/mIoU")] == [2, 4]
    assert {"val/images/0", "val/confusion_matrix", "val/per_class_IoU"} <= set(events.Tags()["images"])
    assert events.Scalars("hparam/mIoU")[-1].value == pytest.approx(metrics["mIoU"])
    assert "config/text_summary" in events.Tags()["tensors"]


def test_mlflow_continues_one_run_in_the_run_folder(tracked_run):
    from mlflow.tracking import MlflowClient

    run, metrics = tracked_run
    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("segfw").experiment_id])
    assert [r.info.run_id for r in runs] == [(run / "mlflow_id.txt").read_text().strip()]
    record = runs[0]
    assert record.info.status == "FINISHED" and record.info.run_name == "run"
    assert [m.step for m in client.get_metric_history(record.info.run_id, "train/loss")] == [1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(record.info.run_id, "val/mIoU")] == [2, 4]
    assert record.data.metrics["final/mIoU"] == pytest.approx(metrics["mIoU"])
    assert record.data.params["model.backbone.name"] == "resnet18"
    artifacts = {a.path for a in client.list_artifacts(record.info.run_id)}
    assert "config.json" in artifacts and "images" in artifacts
    local = client.download_artifacts(record.info.run_id, "config.json", str(run.parent))
    config = json.loads(open(local).read())
    assert config["trainer"]["max_iters"] == 4


def test_wandb_offline_files_hold_one_run_id_across_the_resume(tracked_run):
    run, metrics = tracked_run
    contents = run_contents(run)
    assert contents["ids"] == {(run / "wandb_id.txt").read_text().strip()}
    assert len(list((run / "wandb").glob("offline-run-*"))) == 2  # one per launch, one run id: wandb sync joins them
    losses = [row["_step"] for row in contents["history"] if "train/loss" in row]
    assert losses == [1, 2, 3, 4]
    images = [row for row in contents["history"] if row.get("val/images/0/_type") == "image-file"]
    assert [row["_step"] for row in images] == [2, 4]
    assert all(any((run / "wandb").glob(f"offline-run-*/files/{row['val/images/0/path']}")) for row in images)
    assert contents["config"]["trainer"]["max_iters"] == 4
    assert contents["summary"]["hparam/mIoU"] == pytest.approx(metrics["mIoU"])


def test_csv_and_jsonl_continue_their_files(tracked_run):
    run, metrics = tracked_run
    rows = list(csv.DictReader((run / "scalars.csv").open()))
    assert [int(r["step"]) for r in rows if r["tag"] == "train/loss"] == [1, 2, 3, 4]
    assert float([r["value"] for r in rows if r["tag"] == "hparam/mIoU"][-1]) == pytest.approx(metrics["mIoU"])
    lines = [json.loads(line) for line in (run / "scalars.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "train/loss" in line] == [1, 2, 3, 4]


def test_other_ranks_log_nothing_and_every_logger_is_registered(tmp_path):
    group = build_loggers(["tensorboard", "jsonl", "csv"], tmp_path, enabled=False)
    group.scalars({"loss": 1.0}, 1)
    group.close()
    assert list(tmp_path.iterdir()) == []
    assert set(LOGGERS.names()) >= {"tensorboard", "jsonl", "csv", "wandb", "mlflow"}


def test_a_missing_tracker_is_one_line_naming_the_extra():
    with pytest.raises(ConfigError) as error:
        require("segfw_no_such_tracker", "wandb")
    assert "pip install 'segfw[wandb]'" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="give a logger name"):
        build_loggers([3], REPO)
