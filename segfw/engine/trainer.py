"""The training loop from built parts (detectron2's ``SimpleTrainer``): no config, no run folder.

``Trainer(model, step, optimizer, data, max_iters=...)`` runs ``max_iters`` optimizer steps: draw a batch
from ``data`` (an iterable of batches, e.g. a ``DataLoader``), move its tensors to ``device``, compute the
named losses ``step(batch) -> {"loss_ce": ..., ...}``, back-propagate their sum (with autocast and a
GradScaler as ``precision`` says, over ``accumulate`` micro-batches), clip, step the optimizer and the
schedule. Hooks (:mod:`segfw.engine.hooks`) run before and after training and every step and read the
loop's state (:class:`segfw.engine.state.TrainerState`); loggers receive what the hooks report.
:class:`segfw.engine.default_trainer.DefaultTrainer` builds these parts from a composed config.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from segfw.engine import distributed as dist_utils
from segfw.engine.console import SmoothedValue
from segfw.engine.device import autocast
from segfw.engine.finite_guard import FiniteGuard
from segfw.engine.hooks.base import Hook
from segfw.engine.loggers.group import LoggerGroup
from segfw.engine.run_costs import reset_peak_memory


class LossStep(nn.Module):
    """``forward(batch) -> named losses`` of a segmentor on ``batch["image"]``, ``batch["mask"]``; DDP wraps this
    module, so it sees the loss computation as the forward."""

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        self.segmentor = segmentor

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        return self.segmentor.losses(batch["image"], batch["mask"])


@dataclass
class Precision:
    """How a step computes: ``amp_dtype`` (None: fp32; torch.bfloat16/float16: autocast, fp16 with a
    GradScaler) and ``layout`` (the memory format of 4-D float inputs, e.g. ``torch.channels_last``)."""

    amp_dtype: torch.dtype | None = None
    layout: torch.memory_format = torch.contiguous_format
    scaler: torch.amp.GradScaler = field(init=False)

    def __post_init__(self):
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)


def to_device(batch: Any, device: torch.device, layout: torch.memory_format) -> Any:
    """The tensors of ``batch`` (nested mappings, lists, tuples) on ``device``; 4-D float tensors in ``layout``."""
    if isinstance(batch, Tensor):
        moved = batch.to(device, non_blocking=True)
        return moved.contiguous(memory_format=layout) if moved.dim() == 4 and moved.is_floating_point() else moved
    if isinstance(batch, Mapping):
        return {key: to_device(value, device, layout) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device, layout) for value in batch)
    return batch


class Trainer:
    """Runs optimizer steps from built parts; the state hooks read is on the instance (``TrainerState``).

    ``model``: the plain module being trained (hooks, clipping and checkpoints see it, never a DDP wrapper);
    ``step``: ``step(batch) -> dict[str, Tensor]`` of named losses (default :class:`LossStep` of ``model``; pass
    the DDP-wrapped or compiled one); ``data``: an iterable of batches, iterated once training starts;
    ``eval_interval``: every how many steps ``is_eval_step`` is true (and at the last step; 0: only there);
    ``max_bad_steps``: steps with a non-finite loss skipped before the run stops.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, data: Iterable, *, max_iters: int,
                 step: nn.Module | None = None, scheduler: Any = None, hooks: Sequence[Hook] = (),
                 logger: LoggerGroup | None = None, precision: Precision | None = None,
                 device: torch.device | str = "cpu", accumulate: int = 1, grad_clip: float | None = None,
                 eval_interval: int = 0, max_bad_steps: int = 0, start_iter: int = 0, progress: bool = True):
        self.model, self.optimizer, self.scheduler, self.data = model, optimizer, scheduler, data
        self.step_module: nn.Module = step if step is not None else LossStep(model)
        self.hooks, self.logger = list(hooks), logger if logger is not None else LoggerGroup()
        self.precision = precision if precision is not None else Precision()
        self.device, self.max_iters, self.accumulate = torch.device(device), max_iters, max(accumulate, 1)
        self.grad_clip, self.eval_interval, self.progress = grad_clip, eval_interval, progress
        self.finite = FiniteGuard(max_bad_steps)
        self.main = dist_utils.is_main_process()
        self.iteration = self.start_iter = start_iter
        self.losses: dict[str, float] = {}  # the step's state, read by the hooks (see segfw.engine.state)
        self.lr, self.is_eval_step, self.finished, self.stop = 0.0, False, False, False
        self.eval_result = None
        self.train_seconds = 0.0
        self._loader_iter: Iterator | None = None

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return self.precision.amp_dtype

    @property
    def scaler(self) -> torch.amp.GradScaler:
        return self.precision.scaler

    def say(self, message: str) -> None:
        """Print ``message`` on rank 0 (the other ranks stay quiet)."""
        if self.main:
            print(message, flush=True)

    def batches(self, loader_iter: Iterator) -> Iterator:
        """The batches the steps draw from the iterator of ``data`` (a subclass may filter them)."""
        return loader_iter

    def run_step(self, batches: Iterator) -> dict[str, float]:
        """One optimizer step; a non-finite loss skips the step or stops the run (see ``FiniteGuard``)."""
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, Tensor] = {}
        for micro in range(self.accumulate):
            batch = to_device(next(batches), self.device, self.precision.layout)
            sync = micro == self.accumulate - 1 or not hasattr(self.step_module, "no_sync")
            context = self.step_module.no_sync() if not sync else contextlib.nullcontext()
            with context:
                with autocast(self.device, self.amp_dtype):
                    losses = self.step_module(batch)
                loss = sum(losses.values())
                self.scaler.scale(loss / self.accumulate).backward()
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value.detach().float() / self.accumulate
        stacked = torch.stack([*totals.values(), sum(totals.values())])
        if dist_utils.world_size() > 1:  # every rank sees a nan of any rank (and logs the mean), so all stop together
            torch.distributed.all_reduce(stacked)
            stacked /= dist_utils.world_size()
        values = stacked.tolist()  # one device sync per step
        logged = dict(zip([*totals, "loss"], values))
        if self.finite.step_is_bad(logged, self.iteration + 1):
            self.optimizer.zero_grad(set_to_none=True)  # skipped: the weights stay as they were
            if self.scheduler is not None:
                self.scheduler.step()
            return logged
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return logged

    def run(self) -> None:
        """Hooks before training, then per step ``before_step``, one optimizer step, ``after_step`` (until
        ``max_iters``, or a hook sets ``stop``); ``after_train`` (reverse order) also when the loop ends early."""
        bar = tqdm(total=self.max_iters, initial=self.iteration, disable=not (self.main and self.progress),
                   desc="train", dynamic_ncols=True)
        reset_peak_memory(self.device)
        smoothed = SmoothedValue()  # the bar shows an exponential moving average of the loss
        try:
            for hook in self.hooks:
                hook.before_train(self)
            self._loader_iter = iter(self.data)  # starts the workers once the hooks caught the signals
            batches = self.batches(self._loader_iter)
            while self.iteration < self.max_iters and not self.stop:
                for hook in self.hooks:
                    hook.before_step(self)
                step_tic = time.perf_counter()
                self.losses = self.run_step(batches)
                self.train_seconds += time.perf_counter() - step_tic
                self.iteration += 1
                self.lr = self.optimizer.param_groups[0]["lr"]
                self.is_eval_step = self.iteration == self.max_iters or bool(
                    self.eval_interval and self.iteration % self.eval_interval == 0)
                bar.update(1)
                bar.set_postfix(loss=f"{smoothed.update(self.losses['loss']):.3f}", lr=f"{self.lr:.2e}")
                for hook in self.hooks:
                    hook.after_step(self)
                if self.is_eval_step:
                    bar.unpause()  # the bar's rate and ETA count training time only
            self.finished = self.iteration >= self.max_iters
        finally:
            bar.close()
            try:
                for hook in reversed(self.hooks):
                    hook.after_train(self)
            finally:
                self._shutdown_workers()

    def _shutdown_workers(self) -> None:
        """Stop the loader's worker processes (they ignore SIGINT/SIGTERM, see ``seed_worker``)."""
        if self._loader_iter is not None and hasattr(self._loader_iter, "_shutdown_workers"):
            self._loader_iter._shutdown_workers()
        self._loader_iter = None
