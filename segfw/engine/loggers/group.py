"""The run's loggers as one: what hooks call (``trainer.logger``), fanned out to every back end.

:class:`LoggerGroup` turns a run's reports into the plain calls of :class:`~segfw.engine.loggers.base.Logger`:
an evaluation summary into ``val/<mean>`` and ``val_class_IoU/<class>`` scalars, prediction panels and
matplotlib figures into RGB arrays. Off rank 0 the group is empty, so nothing is logged twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segfw.distance_metrics import flat_scores
from segfw.engine.loggers.base import Logger
from segfw.registry import LOGGERS
from segfw.visualize import colorize


def figure_to_array(figure) -> np.ndarray:
    """A matplotlib figure drawn as an RGB array ``(H, W, 3)`` uint8 (the figure is closed)."""
    import matplotlib.pyplot as plt

    figure.canvas.draw()
    array = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return array


class LoggerGroup:
    """Every call goes to each logger in order; an empty group (off rank 0) does nothing."""

    def __init__(self, loggers: Iterable[Logger] = ()):
        self.loggers = list(loggers)

    def config(self, config: Mapping[str, Any]) -> None:
        for logger in self.loggers:
            logger.config(config)

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        tags = {f"{prefix}{name}": float(value) for name, value in values.items() if value is not None}
        if tags:
            for logger in self.loggers:
                logger.scalars(tags, step)

    def evaluation(self, summary: Mapping, step: int, prefix: str = "val") -> None:
        """``val/<mean>`` for every mean metric (mIoU, mAcc, aAcc, mDice, mPrecision), ``val_class_IoU/<name>``
        ``val_class_Dice/<name>``, and for a dataset with class families ``val_family_mIoU/<family>`` and
        ``val_distance/<family>/<bin>/{acc,mIoU}`` (``prefix`` replaces ``val``: ``val_ema/mIoU`` for the weight average)."""
        self.scalars({k: v for k, v in summary.items() if not isinstance(v, Mapping)}, step, prefix=f"{prefix}/")
        self.scalars(summary["per_class"], step, prefix=f"{prefix}_class_IoU/")
        if "per_class_dice" in summary:
            self.scalars(summary["per_class_dice"], step, prefix=f"{prefix}_class_Dice/")
        self.scalars(flat_scores(summary), step, prefix=f"{prefix}_")  # val_family_mIoU/row, val_distance/row/...

    def panels(self, tag: str, images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
               preds: Sequence[np.ndarray], palette: np.ndarray, step: int) -> None:
        """One image per sample, ``<tag>/<i>``: input | ground truth | prediction (masks coloured by ``palette``)."""
        if self.loggers:
            self.images({f"{tag}/{i}": np.concatenate([image, colorize(mask, palette), colorize(pred, palette)], axis=1)
                         for i, (image, mask, pred) in enumerate(zip(images, masks, preds))}, step)

    def images(self, images: Mapping[str, np.ndarray], step: int) -> None:
        for logger in self.loggers:
            logger.images(images, step)

    def figure(self, tag: str, figure, step: int) -> None:
        if self.loggers:
            self.images({tag: figure_to_array(figure)}, step)

    def hparams(self, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """The run's hyper-parameters and final metrics (see :meth:`Logger.final`)."""
        clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()}
        for logger in self.loggers:
            logger.final(clean, {k: float(v) for k, v in metrics.items() if v is not None})

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def build_loggers(entries: Iterable[Any], run_dir: Path, resume: bool = False, enabled: bool = True,
                  settings: Mapping[str, Mapping] | None = None) -> LoggerGroup:
    """The loggers ``entries`` (``trainer.loggers``) name, writing into ``run_dir``; none when not ``enabled``
    (every rank but 0). ``resume``: continue the run's existing records (``resume=true``). ``settings``: each
    logger's keys by name (``trainer.logger.<name>``, from ``configs/trainer/logger/<name>.yaml``)."""
    if not enabled:
        return LoggerGroup()
    group = LoggerGroup()
    try:
        for entry in entries:
            group.loggers.append(LOGGERS.build(LOGGERS.node(entry, "trainer.loggers", settings), run_dir=Path(run_dir), resume=resume))
    except BaseException:
        group.close()
        raise
    return group
