"""Where a run's curves, images, config and final metrics go: one back end per file, registered in
``LOGGERS`` (see :mod:`segfw.engine.loggers.base`), chosen by ``trainer.loggers``."""

from segfw.autoimport import import_submodules
from segfw.engine.loggers.base import Logger
from segfw.engine.loggers.group import LoggerGroup, build_loggers

import_submodules(__name__, __path__)

__all__ = ["Logger", "LoggerGroup", "build_loggers"]
