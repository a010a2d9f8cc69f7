"""What a run folder records so that the run can be understood and repeated: ``log.txt`` and ``env.json``.

- ``log.txt``: every line the console showed on rank 0 (stdout and stderr; progress-bar redraws,
  which overwrite themselves, are left out). A resumed run appends.
- ``env.json``: the code version (git commit and whether the tree had uncommitted changes), the
  versions of Python and of the packages segfw uses, the device, the number of processes, the host
  and the command line; a resumed run keeps these and appends its own launch to ``resumes``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import torch

from segfw.atomic_write import write_text
from segfw.engine import distributed as dist_utils
from segfw.engine.console import launcher

PACKAGES = ("torch", "torchvision", "numpy", "albumentations", "opencv-python-headless", "hydra-core", "omegaconf",
            "pillow", "tensorboard", "timm", "segfw")
SOURCE = Path(__file__).resolve().parents[2]  # the checkout segfw is imported from


class _Tee:
    """A text stream writing to ``stream`` and to ``log``; progress-bar redraws (a carriage return or a
    cursor move) only to ``stream``."""

    def __init__(self, stream: TextIO, log: TextIO):
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        if "\r" not in text and "\x1b[" not in text:
            self.log.write(text)
            self.log.flush()
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ... of the console
        return getattr(self.stream, name)


@contextlib.contextmanager
def record_console(path: Path, enabled: bool = True) -> Iterator[None]:
    """Copy what is printed to stdout and stderr inside the block into ``path`` (appending)."""
    if not enabled:
        yield
        return
    with open(path, "a", encoding="utf-8") as log:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(stdout, log), _Tee(stderr, log)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = stdout, stderr


def git_version(folder: Path = SOURCE) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git checkout at ``folder``."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit.strip() if commit else None, "dirty": bool(status.strip()) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "processes": dist_utils.world_size(),
                            "process_group": torch.distributed.get_backend() if dist_utils.in_process_group() else None}
    if device.type == "cuda":
        info |= {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                 "cudnn": torch.backends.cudnn.version()}
    return info


def environment(device: torch.device, argv: list[str] | None = None) -> dict[str, Any]:
    """The contents of ``env.json`` (see the module docstring)."""
    argv = list(sys.argv if argv is None else argv)
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([*(launch if (launch := launcher())[0] == "torchrun" else [sys.executable]), *argv]),
        "argv": argv,
        "git": git_version(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        **device_description(device),
    }


def write_environment(path: Path, device: torch.device, resumed: bool = False) -> None:
    """``env.json`` for a new run; a resumed run keeps the original launch's record and appends its own
    (time, command, host, device, processes, code version) to ``resumes``."""
    record = environment(device)
    if resumed:
        try:
            first = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            first = None
        if isinstance(first, dict):
            launch = {key: record[key] for key in ("time", "command", "argv", "git", "host", "device", "processes")}
            record = {**first, "resumes": [*first.get("resumes", []), launch]}
    write_text(path, json.dumps(record, indent=2) + "\n")
