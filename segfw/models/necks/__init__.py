"""Necks: every module here is imported so that its components are registered."""

from segfw.autoimport import import_submodules

import_submodules(__name__, __path__)
