"""Early stopping: end the run when an evaluation metric has stopped improving."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segfw.engine.best_metric import MODES, metric_value
from segfw.engine.hooks.base import Hook
from segfw.errors import ConfigError
from segfw.registry import HOOKS

if TYPE_CHECKING:
    from segfw.engine.state import TrainerState


@HOOKS.register("early_stopping")
class EarlyStopping(Hook):
    """After every evaluation (``trainer.eval_result``, set by ``evaluate``; list this hook after it), counts the
    evaluations since ``metric`` last improved by more than ``min_delta`` (``mode`` max: rose; min: fell); after
    ``patience`` such evaluations it sets ``trainer.stop`` and the loop ends after this step (the step's
    checkpoints are written first). The count is saved in ``last.pt`` and continues on ``resume=true``."""

    def __init__(self, metric: str = "mIoU", mode: str = "max", patience: int = 3, min_delta: float = 0.0):
        if mode not in MODES:
            raise ConfigError(f"trainer.hook.early_stopping.mode must be max or min, got '{mode}'")
        if patience < 1:
            raise ConfigError(f"trainer.hook.early_stopping.patience={patience} is invalid: give an integer >= 1")
        self.metric, self.mode, self.patience, self.min_delta = metric, mode, patience, min_delta
        self.best: float | None = None
        self.bad_evaluations = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta

    def after_step(self, trainer: TrainerState) -> None:
        if not trainer.is_eval_step or trainer.eval_result is None:
            return
        value = metric_value(trainer.eval_result.summary, self.metric)
        if value is not None and self.improved(value):
            self.best, self.bad_evaluations = value, 0
            return
        self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience and trainer.iteration < trainer.max_iters:
            trainer.stop = True
            trainer.say(f"\nearly stopping at iteration {trainer.iteration}: {self.metric} has not improved on "
                        f"{self.best} for {self.bad_evaluations} evaluations (patience {self.patience})")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_evaluations = state["best"], state["bad_evaluations"]
