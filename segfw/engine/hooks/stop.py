"""Ctrl-C / SIGTERM as a hook: the signals are caught for the whole loop (see :mod:`segfw.engine.stop_signals`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segfw.engine.hooks.base import Hook
from segfw.engine.stop_signals import StopRequested, StopSignals
from segfw.registry import HOOKS

if TYPE_CHECKING:
    from segfw.engine.state import RunState


@HOOKS.register("stop_on_signal")
class StopOnSignal(Hook):
    """After the step during which a signal came (on any rank: all ranks stop at the same step): save
    ``last.pt`` and raise :class:`StopRequested`; once the progress bar is closed, print how to continue.
    Runs last, so the step's evaluation and checkpoints are done first."""

    def __init__(self):
        self.signals = StopSignals()
        self.stopped = False

    def before_train(self, trainer: RunState) -> None:
        self.signals.__enter__()

    def after_step(self, trainer: RunState) -> None:
        if self.signals.requested(trainer.device):
            trainer.save()
            self.stopped = True
            raise StopRequested(self.signals.signum)

    def after_train(self, trainer: RunState) -> None:
        self.signals.__exit__(None, None, None)
        if self.stopped:
            trainer.say(f"\nstopped at iteration {trainer.iteration}; saved {trainer.ckpt_dir / 'last.pt'}; continue "
                        f"with: {trainer.resume_command()}")
