"""Shared by tests/guarantees: byte+mtime snapshots, copies of the finished run (fixture ``finished_folder_run``
in tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def snapshot(*folders: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folders`` (symlinks not followed into): its bytes and mtime."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                found[str(path)] = (path.read_bytes(), os.stat(path).st_mtime_ns)
            elif path.is_symlink():
                found[str(path)] = (os.readlink(path).encode(), 0)
    return found


def copy_run(finished_folder_run: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the finished run at ``tmp_path/run`` (where :func:`train_overrides` points run_dir)."""
    return Path(shutil.copytree(finished_folder_run[1], tmp_path / "run", symlinks=True))
