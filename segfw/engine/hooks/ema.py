"""Exponential moving average of the weights (``trainer.ema.*``), evaluated and saved as its own model.

After every step ``ema = decay * ema + (1 - decay) * weights`` for every parameter, while buffers
(BatchNorm statistics) are copied; until ``start_iter`` the average is the weights themselves. At each
evaluation the averaged model is scored too (console line, TensorBoard ``val_ema/*``) and written to
``checkpoints/ema.pt``, a checkpoint that ``tools/eval.py checkpoint=...``, ``infer.py`` and ``export.py``
take like any other. The average itself is saved in ``last.pt`` (:meth:`EMA.state_dict`), so a resumed run
continues it exactly.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from segfw.engine.checkpoint import save_checkpoint
from segfw.engine.finite_guard import check_finite_weights
from segfw.engine.hooks.base import Hook
from segfw.engine.hooks.evaluation import evaluate_weights
from segfw.errors import ConfigError
from segfw.metrics import format_means
from segfw.registry import HOOKS

if TYPE_CHECKING:
    from segfw.engine.state import RunState


class WeightAverage:
    """A frozen copy of ``model`` (``.module``) whose parameters follow it as an exponential moving average."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"trainer.ema.decay={decay} is invalid: give a number in (0, 1), e.g. 0.999")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        """``ema = decay * ema + (1 - decay) * weights`` (``decay`` defaults to :attr:`decay`); buffers copied."""
        weight = 1.0 - (self.decay if decay is None else decay)
        for mine, theirs in zip(self.module.parameters(), model.parameters(), strict=True):
            mine.lerp_(theirs.detach(), weight)
        for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)


class EMA(Hook):
    """Keeps a :class:`WeightAverage` of ``model`` (the plain segmentor, also under DDP: every rank holds the
    same average); scores it at each evaluation and saves it as ``checkpoints/ema.pt`` (rank 0)."""

    def __init__(self, model: nn.Module, decay: float = 0.999, start_iter: int = 0):
        self.average = WeightAverage(model, decay)
        self.start_iter = start_iter

    def after_step(self, trainer: RunState) -> None:
        self.average.update(trainer.model, decay=0.0 if trainer.iteration <= self.start_iter else None)
        if not trainer.is_eval_step:
            return
        model = self.average.module
        result = evaluate_weights(trainer, model)
        trainer.logger.evaluation(result.summary, trainer.iteration, prefix="val_ema")
        trainer.say(f"\niteration {trainer.iteration}: EMA weights (decay {self.average.decay}): "
                    f"{format_means(result.summary)}")
        check_finite_weights(model, trainer.iteration)
        if trainer.main:
            save_checkpoint(trainer.ckpt_dir / "ema.pt", {**trainer.model_record(), "model": model.state_dict(),
                                                          "ema": {"decay": self.average.decay, "summary": result.summary}})

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.average.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.module.load_state_dict(state["model"])


@HOOKS.register("ema")
def ema_hook(trainer: RunState) -> EMA | None:
    """The weight average of ``trainer.ema`` (``enabled``, ``decay``, ``start_iter``); none when disabled."""
    ema = dict(trainer.t.get("ema") or {})  # a run saved before trainer.ema existed has no such node
    if not ema.get("enabled"):
        return None
    return EMA(trainer.model, **{k: v for k, v in ema.items() if k != "enabled"})
