"""Atomic writes (issue 9, items 5 and 10): unique temporary names, one line on a full or read-only disk,
no temporary file left behind, the previous file intact."""

from __future__ import annotations

import errno
import resource
import signal
from pathlib import Path

import pytest
import torch

from segfw.atomic_write import WriteError, atomic_write, write_text
from segfw.engine.checkpoint import save_checkpoint


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_full_disk_is_one_line_and_keeps_the_old_checkpoint(tmp_path):
    """A real write failure: the file-size limit (ulimit -f) stops torch.save half-way, as a full disk does."""
    target = tmp_path / "last.pt"
    save_checkpoint(target, {"weights": torch.zeros(4)})
    before = target.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))
    try:
        with pytest.raises(WriteError, match=r"cannot write .*last\.pt: the file is larger") as caught:
            save_checkpoint(target, {"weights": torch.zeros(1_000_000)})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert "\n" not in str(caught.value)
    assert leftovers(tmp_path) == []
    assert target.read_bytes() == before


@pytest.mark.parametrize("code, reason", [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk is full"),
                                          (errno.EACCES, "permission denied")])
def test_os_errors_name_the_file_and_the_fix(tmp_path, code, reason):
    def failing(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(code, "simulated")

    with pytest.raises(WriteError, match=reason):
        atomic_write(tmp_path / "metrics.json", failing)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match=r"cannot write .*file/x\.json"):
        write_text(tmp_path / "file" / "x.json", "{}")


def test_temporary_names_are_unique_and_the_file_keeps_normal_permissions(tmp_path):
    seen = []
    for _ in range(2):
        atomic_write(tmp_path / "last.pt", lambda tmp: (seen.append(tmp.name), tmp.write_text("x")))
    assert len(set(seen)) == 2 and all(name.startswith(".last.pt.") for name in seen)
    assert (tmp_path / "last.pt").stat().st_mode & 0o644 == 0o644
