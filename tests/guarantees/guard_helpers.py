"""Shared by tests/guarantees: a small folder dataset, a one-step training on it, byte+mtime snapshots."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import tiny_overrides
from data_layouts import label_with, write_image, write_label

CLASSES = ("background", "road", "car")
SIZE = (24, 32)


def folder_dataset(root: Path, counts: dict[str, int] | None = None) -> Path:
    """``root/images/<split>/sNN.png``, ``root/masks/<split>/sNN.png`` (ids 0..2), ``root/classes.txt``."""
    for split, count in (counts or {"train": 2, "val": 2}).items():
        for i in range(count):
            write_image(root / "images" / split / f"s{i:02d}.png", SIZE, seed=i)
            write_label(root / "masks" / split / f"s{i:02d}.png", label_with(list(range(len(CLASSES))), SIZE, seed=i))
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root


def train_overrides(tmp: Path, root: Path, **extra: str) -> list[str]:
    """tiny_overrides on the folder dataset ``root`` (one step, one evaluation) into ``tmp/run``."""
    values = {"trainer.max_iters": "1", "trainer.eval_interval": "1", "trainer.crop_size": "[16,16]", **extra}
    kept = [o for o in tiny_overrides(tmp, **values) if not o.startswith("dataset.")]
    return [*kept, "dataset=folder", f"dataset.root={root}"]


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
