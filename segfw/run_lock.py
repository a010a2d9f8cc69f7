"""One training per run folder: an exclusive lock on ``<run_dir>/.lock`` naming its holder.

The lock is an ``fcntl.flock`` on the file, which the operating system drops when the holder exits in
any way (even SIGKILL), so a lock file left by a dead process is stale and simply taken over. The
file records the holder's pid, host and start time for the message another launch prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from segfw.errors import ConfigError

LOCK_NAME = ".lock"


class RunFolderBusy(ConfigError):
    """Another process trains in this run folder."""


class RunLock:
    """``with RunLock(run_dir):`` holds the folder's lock; :meth:`acquire` / :meth:`release` by hand."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._handle = None
        self.took_over: dict | None = None  # the stale holder's record, when a dead process left the file

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read(self.path)
                handle.close()
                raise RunFolderBusy(
                    f"run folder {self.path.parent} is in use by another training (pid {holder.get('pid', '?')} on "
                    f"host {holder.get('host', '?')}, started {holder.get('started', '?')}); wait for it to finish, "
                    "stop it, or give another run_dir"
                ) from None
            if _same_file(handle, self.path):
                break
            handle.close()  # the holder released (and removed) the file between our open and our lock: retry
        previous = _read(self.path)
        self.took_over = previous or None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is None:
            return
        self.path.unlink(missing_ok=True)  # while still held: no other process can be between lock and unlink
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(handle, path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
