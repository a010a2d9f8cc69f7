"""``last.pt`` (and ``iter_*.pt``, ``best.pt``) at every evaluation and every ``trainer.checkpoint_interval`` steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segfw.engine.hooks.base import Hook
from segfw.registry import HOOKS

if TYPE_CHECKING:
    from segfw.engine.state import RunState


@HOOKS.register("save_checkpoints")
class SaveCheckpoints(Hook):
    """After an evaluation: ``last.pt``, and ``best.pt`` when ``trainer.best_metric`` improved; in between,
    ``last.pt`` every ``trainer.checkpoint_interval`` steps (0: never). Runs after :class:`Evaluate`."""

    def after_step(self, trainer: RunState) -> None:
        if trainer.is_eval_step:
            trainer.save(best=trainer.best.update(trainer.eval_result.summary, trainer.iteration))
        elif trainer.t.checkpoint_interval and trainer.iteration % trainer.t.checkpoint_interval == 0:
            trainer.save()
