"""What a hook may read and call: the loop's state (:class:`TrainerState`) and, in a run built from a
config, the run's (:class:`RunState`). Hooks depend on these protocols, never on a trainer class, so
``segfw.engine.hooks`` and ``segfw.engine.trainer`` import nothing of each other's but the base ``Hook``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from segfw.engine.best_metric import BestMetric
    from segfw.engine.evaluator import EvalResult
    from segfw.engine.loggers.group import LoggerGroup


class TrainerState(Protocol):
    """The loop's state (:class:`segfw.engine.trainer.Trainer`).

    - ``iteration``: steps done (``after_step`` sees the step just finished, 1-based); ``max_iters``;
    - ``losses``: the step's named losses and their sum ``loss`` (floats, averaged over ranks);
    - ``lr``: the first parameter group's learning rate after the step;
    - ``is_eval_step``: whether this step is an evaluation step (every ``eval_interval`` steps, and the last);
    - ``eval_result``: the latest :class:`~segfw.engine.evaluator.EvalResult` of the trained weights (set by
      the evaluation hook);
    - ``finished`` (in ``after_train``): whether the loop reached ``max_iters``;
    - ``stop``: a hook sets it to end the loop after the current step (early stopping);
    - ``model`` (the plain module, never the DDP wrapper), ``optimizer``, ``device``, ``amp_dtype``;
    - ``logger``: the run's loggers (:class:`~segfw.engine.loggers.group.LoggerGroup`; empty off rank 0);
    - ``main``: whether this is rank 0; ``say(text)`` prints on rank 0.
    """

    iteration: int
    max_iters: int
    losses: dict[str, float]
    lr: float
    is_eval_step: bool
    eval_result: EvalResult | None
    finished: bool
    stop: bool
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    amp_dtype: torch.dtype | None
    logger: LoggerGroup
    main: bool

    def say(self, message: str) -> None: ...


class RunState(TrainerState, Protocol):
    """A run built from a config (:class:`segfw.engine.default_trainer.DefaultTrainer`) also has:
    ``cfg`` (the composed config), ``t`` (``cfg.trainer``), ``classes``, ``val_set`` and ``val_loader``,
    ``run_dir``, ``ckpt_dir``, ``best`` (the best-metric tracker); ``save(best=False)`` writes ``last.pt``
    (and ``best.pt``), ``model_record()`` is what rebuilds the model, ``resume_command()`` the shell command
    that continues the run."""

    cfg: Any
    t: Any
    classes: list[str]
    val_set: Any
    val_loader: Any
    run_dir: Path
    ckpt_dir: Path
    best: BestMetric

    def save(self, best: bool = False) -> None: ...

    def model_record(self) -> dict[str, Any]: ...

    def resume_command(self) -> str: ...
