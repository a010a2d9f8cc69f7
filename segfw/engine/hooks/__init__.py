"""The training loop's hooks (see :mod:`segfw.engine.hooks.base`): one file per hook, registered in ``HOOKS``."""

from segfw.autoimport import import_submodules

from segfw.engine.hooks.base import Hook
from segfw.engine.hooks.checkpoints import SaveCheckpoints
from segfw.engine.hooks.early_stopping import EarlyStopping
from segfw.engine.hooks.ema import EMA, WeightAverage
from segfw.engine.hooks.evaluation import Evaluate, evaluate_weights
from segfw.engine.hooks.scalars import WriteScalars
from segfw.engine.hooks.stop import StopOnSignal

import_submodules(__name__, __path__)

__all__ = ["EMA", "EarlyStopping", "Evaluate", "Hook", "SaveCheckpoints", "StopOnSignal", "WeightAverage", "WriteScalars",
           "evaluate_weights"]
