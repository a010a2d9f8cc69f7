"""TensorBoard event files in the run folder: scalars, images, the config as text, the hparams session."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from segfw.engine.loggers.base import Logger
from segfw.registry import LOGGERS


@LOGGERS.register("tensorboard")
class TensorBoardLogger(Logger):
    """Event files in ``run_dir`` (``tensorboard --logdir outputs``); a resumed run adds a new event file to
    the same folder, which TensorBoard shows as one run."""

    def __init__(self, run_dir: Path, resume: bool = False):
        self.writer = SummaryWriter(str(run_dir))

    def config(self, config: Mapping[str, Any]) -> None:
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def images(self, images: Mapping[str, np.ndarray], step: int) -> None:
        for tag, image in images.items():
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def final(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """This run's hparams session and its final ``hparam/<metric>`` scalars, in the run's own folder.

        Only the session (start + end) is written, never an experiment summary: TensorBoard then
        builds the HParams table from every run under its logdir, lists the keys whose values
        differ between runs (a study's swept keys) first, and offers every scalar as a metric.
        (``SummaryWriter.add_hparams`` writes a per-run experiment summary, and TensorBoard shows
        the columns of one arbitrary run's.)
        """
        finals = {f"hparam/{k}": v for k, v in metrics.items()}
        _, session_start, session_end = hparams_summaries(dict(hparams), finals)
        for summary in (session_start, session_end):
            self.writer.file_writer.add_summary(summary)
        self.scalars(finals, 0)

    def close(self) -> None:
        self.writer.close()
