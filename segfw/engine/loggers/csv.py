"""``scalars.csv``: one ``step,tag,value`` row per scalar (opens in a spreadsheet or ``pandas.read_csv``)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segfw.engine.loggers.base import Logger
from segfw.registry import LOGGERS


@LOGGERS.register("csv")
class CsvLogger(Logger):
    """Rows ``step,tag,value`` in ``run_dir/<file>`` (header once; a resumed run appends); the final metrics
    are rows ``0,hparam/<metric>,value`` and the config ``config.yaml`` of the run folder. Images are not written."""

    def __init__(self, run_dir: Path, resume: bool = False, file: str = "scalars.csv"):
        path = Path(run_dir) / file
        new = not path.exists() or path.stat().st_size == 0
        self.file = open(path, "a", encoding="utf-8", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(["step", "tag", "value"])

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self.writer.writerows([step, tag, value] for tag, value in values.items())
        self.file.flush()

    def final(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        self.scalars({f"hparam/{k}": v for k, v in metrics.items()}, 0)

    def close(self) -> None:
        self.file.close()
