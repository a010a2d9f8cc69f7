"""Import every module of a package so that its registration decorators run.

A new block is one new file: the package's ``__init__`` calls :func:`import_submodules`, so nothing
else has to be edited for the file's components to be registered.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package_name: str, package_path: list[str]) -> None:
    for module in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package_name}.{module.name}")
