"""TensorBoard logging (rank 0 only): scalars, per-class IoU, image panels, hparams."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from segfw.visualize import colorize


class TensorBoardLogger:
    """Writes event files into ``log_dir``; every method is a no-op when ``enabled`` is False."""

    def __init__(self, log_dir: Path, enabled: bool = True):
        self.writer = SummaryWriter(str(log_dir)) if enabled else None
        # scalars.jsonl mirrors the scalars for scripts: one JSON object per call, {"step": s, "<tag>": value, ...}
        self.jsonl = open(Path(log_dir) / "scalars.jsonl", "a", encoding="utf-8") if enabled else None

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        if self.writer is None:
            return
        tags = {f"{prefix}{name}": float(value) for name, value in values.items() if value is not None}
        for tag, value in tags.items():
            self.writer.add_scalar(tag, value, step)
        if tags:
            self.jsonl.write(json.dumps({"step": step, **tags}) + "\n")
            self.jsonl.flush()

    def evaluation(self, summary: Mapping, step: int, prefix: str = "val") -> None:
        """``val/<mean>`` for every mean metric (mIoU, mAcc, aAcc, mDice, mPrecision), ``val_class_IoU/<name>``
        and ``val_class_Dice/<name>`` (``prefix`` replaces ``val``: ``val_ema/mIoU`` for the weight average)."""
        self.scalars({k: v for k, v in summary.items() if not isinstance(v, Mapping)}, step, prefix=f"{prefix}/")
        self.scalars(summary["per_class"], step, prefix=f"{prefix}_class_IoU/")
        if "per_class_dice" in summary:
            self.scalars(summary["per_class_dice"], step, prefix=f"{prefix}_class_Dice/")

    def panels(self, tag: str, images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
               preds: Sequence[np.ndarray], palette: np.ndarray, step: int) -> None:
        """One image per sample: input | ground truth | prediction (masks coloured by ``palette``)."""
        if self.writer is None:
            return
        for i, (image, mask, pred) in enumerate(zip(images, masks, preds)):
            panel = np.concatenate([image, colorize(mask, palette), colorize(pred, palette)], axis=1)
            self.writer.add_image(f"{tag}/{i}", torch.from_numpy(panel).permute(2, 0, 1), step)

    def figure(self, tag: str, figure, step: int) -> None:
        if self.writer is not None:
            self.writer.add_figure(tag, figure, step)

    def hparams(self, params: Mapping[str, object], metrics: Mapping[str, float]) -> None:
        """This run's hparams session and its final ``hparam/<metric>`` scalars, in the run's own folder.

        Only the session (start + end) is written, never an experiment summary: TensorBoard then
        builds the HParams table from every run under its logdir, lists the keys whose values
        differ between runs (a study's swept keys) first, and offers every scalar as a metric.
        (``SummaryWriter.add_hparams`` writes a per-run experiment summary, and TensorBoard shows
        the columns of one arbitrary run's.)
        """
        if self.writer is None:
            return
        clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()}
        finals = {f"hparam/{k}": v for k, v in metrics.items() if v is not None}
        _, session_start, session_end = hparams_summaries(clean, finals)
        for summary in (session_start, session_end):
            self.writer.file_writer.add_summary(summary)
        self.scalars(finals, 0)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.jsonl.close()
