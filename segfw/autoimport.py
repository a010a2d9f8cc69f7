"""Import every module of a package so that its registration decorators run.

A new block is one new file: the package's ``__init__`` calls :func:`import_submodules`, so nothing
else has to be edited for the file's components to be registered. A block kept outside the repository is a
plugin module named in ``$SEGFW_PLUGINS`` (:func:`import_plugins`).
"""

from __future__ import annotations

import importlib
import os
import pkgutil


def import_submodules(package_name: str, package_path: list[str]) -> None:
    for module in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package_name}.{module.name}")


PLUGINS_ENV = "SEGFW_PLUGINS"


def import_plugins() -> list[str]:
    """Import the modules ``$SEGFW_PLUGINS`` names (comma-separated, e.g. ``my_blocks,lab.hooks``, importable
    from ``PYTHONPATH``), so that the components they register are there when a tool builds its config.
    Every tool and ``python -m segfw`` call this first; their YAML files come from ``$SEGFW_CONFIGS``
    (:func:`segfw.config.config_search_path`). Returns the names imported."""
    from segfw.errors import ConfigError

    names = [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or not (name == error.name or name.startswith(f"{error.name}.")):
                raise  # the plugin itself imports something missing: its own traceback
            raise ConfigError(f"{PLUGINS_ENV}={os.environ[PLUGINS_ENV]} names '{name}', which is not importable "
                              f"({error}); put its folder on PYTHONPATH or fix the name") from None
    return names
