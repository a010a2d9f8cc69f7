"""Every command's outputs, checked against its inputs and against existing files before any work starts.

A command collects what it reads in an :class:`Inputs` (folders: everything inside them, symlinked
subfolders included; files: the checkpoint, the input images, and the files of a dataset split, each
resolved through its symlinks), then checks each path it will write:

- :func:`guard_file`: one output file (``eval output=``, ``export output=``, a grid image);
- :func:`guard_folder`: a folder and the files it will hold, file by file (``infer output=``,
  ``eval save_predictions=``), so a per-file symlink cannot lead a write onto an input.

An output resolving to an input, or inside an input folder, is refused; an existing directory where a
file goes, or a folder that cannot be created or written, is refused; an existing file is only replaced
with ``overwrite=true`` (and then through :mod:`segfw.atomic_write`). Every refusal is one line naming
the option, the path and the fix, and nothing has been written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
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


def resolve(path: str | Path) -> Path:
    """``path`` with ``~`` expanded, made absolute and resolved through every symlink (also a dangling one's)."""
    return Path(path).expanduser().resolve()


class Inputs:
    """What a command reads, resolved: folders (with their symlinked subfolders) and single files, each with the
    name an error shows ("dataset root", "checkpoint", "input")."""

    def __init__(self) -> None:
        self.folders: list[tuple[Path, str, str]] = []  # (resolved folder, name, as given)
        self.files: dict[Path, tuple[str, str]] = {}  # resolved file -> (name, as given)

    def folder(self, path: str | Path | None, name: str, given: str | Path | None = None) -> Inputs:
        """Protect ``path`` and everything inside it (symlinked subfolders: their targets too); ``given``: what
        an error shows for it (default ``path``)."""
        if path:
            resolved = resolve(path)
            for protected in [resolved, *(_linked_folders(resolved) if resolved.is_dir() else [])]:
                self.folders.append((protected, name, str(given or path)))
        return self

    def file(self, path: str | Path | None, name: str) -> Inputs:
        """Protect the file ``path`` (its resolved target)."""
        if path:
            self.files[resolve(path)] = (name, str(path))
        return self

    def dataset(self, dataset, name: str = "dataset") -> Inputs:
        """A dataset split: its root folder, and every image and label file it reads, resolved (a per-file
        symlink's target is protected wherever it lives)."""
        self.folder(dataset.root, f"{name} root")
        for sample in dataset.samples:
            for path in (sample.image, sample.label):
                if path.is_symlink():
                    self.file(path, f"{name} file")
        return self

    def owner(self, target: Path) -> str | None:
        """How to name the input that the resolved ``target`` is or lies in, or None when it touches none."""
        if target in self.files:
            name, given = self.files[target]
            return f"is the {name} {given}" + (f" ({target})" if resolve(given) != Path(given).absolute() else "")
        for folder, name, given in self.folders:
            if _inside(target, folder):
                shown = given if folder == Path(given).expanduser().absolute() else f"{given} ({folder})"
                return f"{'is' if target == folder else 'is inside'} the {name} {shown}"
        return None


def _refuse(option: str, output: str | Path, why: str, fix: str) -> ConfigError:
    return ConfigError(f"{option}={output} {why}; {fix}")


def _writable_parent_problem(target: Path, option: str) -> tuple[str, str] | None:
    """(why, fix) when the nearest existing folder above ``target`` is a file or not writable, else None."""
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be written: {parent} is a file, not a folder", f"give {option}= a path in a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return (f"cannot be written: the folder {parent} is not writable",
                f"give {option}= a path in a folder you may write to")
    return None


def _target_problem(target: Path, option: str, inputs: Inputs, overwrite: bool) -> tuple[str, str] | None:
    """(why, fix) when the resolved output file ``target`` may not be written, else None."""
    where = inputs.owner(target)
    if where:
        return f"{where}; writing there could replace your files", f"give {option}= a path outside it"
    if target.is_dir():
        return "is an existing folder, not a file", f"give {option}= a file path"
    if target.exists() and not overwrite:
        return "already exists", "add overwrite=true to replace it, or give another path"
    return _writable_parent_problem(target, option)


def guard_file(output: str | Path, option: str, inputs: Inputs, overwrite: bool = False) -> Path:
    """Check the output file ``output`` (the value of ``option``) before any work; returns it (``~`` expanded).

    Refused: the file resolves to one of ``inputs`` or into an input folder; it is an existing folder; it
    exists and ``overwrite`` is false; its folder cannot be created or written.
    """
    problem = _target_problem(resolve(output), option, inputs, overwrite)
    if problem:
        raise _refuse(option, output, *problem)
    return Path(output).expanduser()


def guard_folder(output: str | Path, option: str, inputs: Inputs, names: Iterable[str], overwrite: bool = False) -> Path:
    """Check the output folder ``output`` and each file ``names`` (relative paths) it will hold, every one
    resolved through symlinks, before any work; returns the folder (``~`` expanded)."""
    folder = Path(output).expanduser()
    resolved = resolve(folder)
    where = inputs.owner(resolved)
    if where:
        raise _refuse(option, output, f"{where}; writing there could replace your files", f"give {option}= a path outside it")
    if resolved.exists() and not resolved.is_dir():
        raise _refuse(option, output, "is an existing file, not a folder", f"give {option}= a folder path")
    problem = _writable_parent_problem(resolved / "x", option)
    if problem:
        raise _refuse(option, output, *problem)
    for name in names:
        problem = _target_problem(resolve(folder / name), option, inputs, overwrite)
        if problem:
            why, fix = problem
            raise ConfigError(f"{option}={output}: {name} {why}; {fix}")
    return folder


def refuse_output_inside_inputs(output: str | Path, option: str, inputs: Mapping[str, str | Path | None]) -> None:
    """Raise ConfigError when ``output`` is, or is inside, one of ``inputs`` (name → folder or file).

    A file input stands for the folder holding it (outputs written beside it could replace it or its
    neighbours). ``option`` is the override the user gave, e.g. ``"output"`` or ``"save_predictions"``.
    """
    protected = Inputs()
    for name, given in inputs.items():
        if given:
            source = resolve(given)
            protected.folder(source if source.is_dir() or not source.exists() else source.parent, name, given)
    where = protected.owner(resolve(output))
    if where:
        raise _refuse(option, output, f"{where}; writing there could replace your files", f"give {option}= a path outside it")
