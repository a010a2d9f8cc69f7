"""A :class:`Logger` receives what a run reports, in plain values; the loop never knows where it goes.

Writing a back end: subclass :class:`Logger`, override what your store can hold, register it with
``@LOGGERS.register("<name>")`` in ``segfw/engine/loggers/<name>.py`` (imported automatically), and add
``configs/trainer/logger/<name>.yaml`` holding its keys. The constructor receives ``run_dir`` (the run
folder: keep your files in it) and ``resume`` (True when ``resume=true`` continues the run: append to the
same run, never start a new one) when it accepts them, and its YAML keys as keywords. Only rank 0 builds
loggers (:func:`segfw.engine.loggers.group.build_loggers`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from segfw.errors import ConfigError


class Logger:
    """Does nothing at each call; subclasses override what they store."""

    def config(self, config: Mapping[str, Any]) -> None:
        """The run's resolved config (nested plain values), once when training starts."""

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Scalars by tag (``train/loss``, ``val/mIoU``, ``val_class_IoU/road``, ...) at iteration ``step``."""

    def images(self, images: Mapping[str, np.ndarray], step: int) -> None:
        """RGB images ``(H, W, 3)`` uint8 by tag (``val/images/0``, ``val/confusion_matrix``) at ``step``."""

    def final(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """At the end: the run's hyper-parameters (flat ``model.neck.name`` keys, plain values) and its
        final metrics (``mIoU``, ``mAcc``, ``aAcc``)."""

    def close(self) -> None:
        """Flush and release the store (also when training stopped early)."""


def require(module: str, extra: str) -> ModuleType:
    """``import module``, or a one-line ConfigError naming the optional extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"trainer.loggers names {extra}, which needs the {module} package: "
                          f"pip install 'segfw[{extra}]' (or remove {extra} from trainer.loggers)") from None
