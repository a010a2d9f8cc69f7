"""``scalars.jsonl``: the scalars as JSON lines, for scripts (``{"step": s, "<tag>": value, ...}`` per call)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segfw.engine.loggers.base import Logger
from segfw.registry import LOGGERS


@LOGGERS.register("jsonl")
class JsonLinesLogger(Logger):
    """One JSON object per call in ``run_dir/<file>``, appended (a resumed run continues the file); the final
    metrics are one last line ``{"step": 0, "hparam/mIoU": ...}``. Images are not written."""

    def __init__(self, run_dir: Path, resume: bool = False, file: str = "scalars.jsonl"):
        self.file = open(Path(run_dir) / file, "a", encoding="utf-8")

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self.file.write(json.dumps({"step": step, **values}) + "\n")
        self.file.flush()

    def final(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        self.scalars({f"hparam/{k}": v for k, v in metrics.items()}, 0)

    def close(self) -> None:
        self.file.close()
