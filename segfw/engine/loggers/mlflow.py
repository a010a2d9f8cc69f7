"""MLflow (the official ``mlflow`` package, ``pip install 'segfw[mlflow]'``).

By default the tracking store is ``run_dir/mlflow.db`` (SQLite) with artifacts in ``run_dir/mlflow_artifacts``:
look at it with ``mlflow ui --backend-store-uri sqlite:///<run_dir>/mlflow.db``. ``tracking_uri`` names a
server (``http://host:5000``) or another store instead. The MLflow run id is kept in
``run_dir/mlflow_id.txt``, so ``resume=true`` logs into the same MLflow run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from segfw.engine.loggers.base import Logger, require
from segfw.registry import LOGGERS

MAX_PARAMS_PER_CALL = 100  # MLflow's limit for one log_batch call


@LOGGERS.register("mlflow")
class MLflowLogger(Logger):
    """An MLflow run: scalars as metrics (with their step), images and the resolved config (``config.json``)
    as artifacts, the hyper-parameters as params and the final metrics as ``final/<metric>``.
    ``experiment``: the MLflow experiment's name; ``run_name``: default the run folder's name."""

    def __init__(self, run_dir: Path, resume: bool = False, tracking_uri: str | None = None,
                 experiment: str = "segfw", run_name: str | None = None):
        require("mlflow", "mlflow")
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        self.Metric, self.Param, run_dir = Metric, Param, Path(run_dir)
        self.client = MlflowClient(tracking_uri=tracking_uri or f"sqlite:///{run_dir.resolve() / 'mlflow.db'}")
        id_file = run_dir / "mlflow_id.txt"
        if id_file.is_file():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(
                experiment, artifact_location=None if tracking_uri else (run_dir.resolve() / "mlflow_artifacts").as_uri())
            self.run_id = self.client.create_run(experiment_id, run_name=run_name or run_dir.name).info.run_id
            id_file.write_text(self.run_id + "\n")

    def config(self, config: Mapping[str, Any]) -> None:
        self.client.log_text(self.run_id, json.dumps(config, indent=2, default=str), "config.json")

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[self.Metric(tag, value, now, step) for tag, value in values.items()])

    def images(self, images: Mapping[str, np.ndarray], step: int) -> None:
        for tag, image in images.items():
            self.client.log_image(self.run_id, image, key=tag.replace("/", "_"), step=step)

    def final(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        logged = self.client.get_run(self.run_id).data.params  # params are immutable: a resumed run keeps its first
        params = [self.Param(key, str(value)[:6000]) for key, value in hparams.items() if key not in logged]
        for start in range(0, len(params), MAX_PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=params[start:start + MAX_PARAMS_PER_CALL])
        self.scalars({f"final/{k}": v for k, v in metrics.items()}, 0)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)
