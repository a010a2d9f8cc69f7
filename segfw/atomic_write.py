"""Atomic file writes: a unique temporary file beside the target, renamed over it only when complete.

Two processes writing the same target never share a temporary name, a crash never leaves a half
file under the target's name, and a full disk or a read-only folder is one line naming the file
(:class:`WriteError`), with the temporary file removed.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from segfw.errors import ConfigError

_REASONS = {
    errno.ENOSPC: "the disk is full; free space or choose another folder",
    errno.EDQUOT: "the disk quota is exceeded; free space or choose another folder",
    errno.EFBIG: "the file is larger than this system allows (ulimit -f); raise the limit or choose another folder",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.EACCES: "permission denied; choose a folder you may write to",
    errno.EPERM: "permission denied; choose a folder you may write to",
}


TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # .<name>.<mkstemp's 8 random characters>.tmp

_UMASK = os.umask(0)
os.umask(_UMASK)


class WriteError(ConfigError):
    """A file could not be written (disk full, read-only, no permission); the message names the file and the fix."""


def describe_write_failure(path: Path, error: OSError) -> str:
    """One line for a failed write of ``path``."""
    reason = _REASONS.get(error.errno) or (error.strerror or type(error).__name__)
    return f"cannot write {path}: {reason} (nothing was changed there)"


def _os_error_behind(error: BaseException) -> OSError | None:
    """The OSError an exception was raised while handling, if any."""
    seen = error.__cause__ or error.__context__
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or seen.__context__
    return seen


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file to ``path``; returns ``path``.

    The temporary file is ``.<name>.<random>.tmp`` in ``path``'s folder (same file system, so the
    rename is atomic). On any failure it is removed; OS write failures raise :class:`WriteError`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise WriteError(describe_write_failure(path, error)) from None
    os.close(handle)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise WriteError(describe_write_failure(path, error)) from None
    except RuntimeError as error:  # torch.save reports a failed write as RuntimeError, the OSError as its context
        tmp.unlink(missing_ok=True)
        cause = _os_error_behind(error)
        if cause is None:
            raise
        raise WriteError(describe_write_failure(path, cause)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def is_stale_temporary(path: Path) -> bool:
    """Whether ``path`` is named as :func:`atomic_write`'s temporary files are (``.last.pt.k3j_x9qa.tmp``)."""
    return path.is_file() and not path.is_symlink() and TEMPORARY_NAME.match(path.name) is not None


def sweep_stale_temporaries(*folders: str | Path) -> list[Path]:
    """Remove the temporary files a killed :func:`atomic_write` left directly in ``folders``; returns them.

    Only call it while no other process may be writing there (e.g. holding the run folder's lock)."""
    removed = []
    for folder in map(Path, folders):
        if folder.is_dir():
            for path in folder.iterdir():
                if is_stale_temporary(path):
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))
