"""Refuse outputs that would write into a command's own inputs (a dataset, the images being predicted).

Paths are compared resolved (symlinks followed), so ``output=`` through a link into the dataset is
caught as well; symlinked folders inside an input folder count as part of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from segfw.errors import ConfigError

LINK_SCAN_DEPTH = 3  # how deep inside an input folder symlinked subfolders are followed (images/train -> /data)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _linked_folders(folder: Path, depth: int = LINK_SCAN_DEPTH) -> list[Path]:
    """Resolved targets of symlinked folders within ``depth`` levels of ``folder``."""
    found, level = [], [folder]
    for _ in range(depth):
        below = []
        for parent in level:
            try:
                entries = list(os.scandir(parent))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=True):
                    (found.append(Path(entry.path).resolve()) if entry.is_symlink() else below.append(Path(entry.path)))
        level = below
    return found


def refuse_output_inside_inputs(output: str | Path, option: str, inputs: Mapping[str, str | Path | None]) -> None:
    """Raise ConfigError when ``output`` is, or is inside, one of ``inputs`` (name → folder or file).

    A file input stands for the folder holding it (outputs written beside it could replace it or its
    neighbours). ``option`` is the override the user gave, e.g. ``"output"`` or ``"save_predictions"``.
    """
    target = Path(output).expanduser().resolve()
    for name, given in inputs.items():
        if not given:
            continue
        source = Path(given).expanduser().resolve()
        folder = source if source.is_dir() or not source.exists() else source.parent
        for protected in [folder, *(_linked_folders(folder) if folder.is_dir() else [])]:
            if _inside(target, protected):
                where = "is" if target == protected else "is inside"
                shown = f"{given}" if protected == Path(given).expanduser().absolute() else f"{given} ({protected})"
                raise ConfigError(
                    f"{option}={output} {where} the {name} {shown}; writing there could replace your files: "
                    f"give {option}= a path outside it"
                )
