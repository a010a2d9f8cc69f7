"""SIGINT/SIGTERM during training: finish the current step, save ``last.pt``, exit with the resume command.

What a cluster sends reaches every process of the job: SLURM, systemd and ``timeout`` signal the whole
process group, and ``torchrun`` forwards the signal it receives to its workers, so a rank may see the
same stop twice. Hence: a repeated SIGTERM (or a SIGINT repeated within :data:`REPEAT_WINDOW_S`)
changes nothing; a user's second Ctrl-C after that stops at once. DataLoader workers ignore both
signals (``segfw.data.loader.seed_worker``), and the trainer shuts them down after saving. Under DDP
every rank stops at the same iteration (the request is all-reduced).
"""

from __future__ import annotations

import signal
import time

import torch

from segfw.engine import distributed as dist_utils

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
REPEAT_WINDOW_S = 2.0  # a second SIGINT sooner than this is the same stop arriving by another path


class StopRequested(Exception):
    """Raised after Ctrl-C / SIGTERM once ``last.pt`` has been written; ``args[0]`` is the signal number."""


class StopSignals:
    """``with StopSignals() as stop:`` catches SIGINT/SIGTERM; ``stop.requested(device)`` at step boundaries."""

    def __init__(self):
        self.signum: int | None = None
        self._first_at = 0.0
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame) -> None:
        if self.signum is None:
            self.signum, self._first_at = signum, time.monotonic()
            return
        if signum == signal.SIGINT and time.monotonic() - self._first_at > REPEAT_WINDOW_S:
            raise KeyboardInterrupt  # the user insists: stop without saving

    def __enter__(self) -> StopSignals:
        self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def requested(self, device: torch.device) -> bool:
        """Whether any rank was signalled (all ranks agree, so they stop at the same iteration)."""
        local = self.signum is not None
        if dist_utils.world_size() == 1:
            return local
        flag = torch.tensor([float(self.signum or 0)], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if self.signum is None and flag.item() > 0:
            self.signum = int(flag.item())
        return flag.item() > 0
