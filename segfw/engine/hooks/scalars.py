"""TensorBoard ``train/*`` curves (and ``scalars.jsonl``) every ``trainer.log_interval`` steps."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

from segfw.engine import distributed as dist_utils
from segfw.engine.hooks.base import Hook
from segfw.registry import HOOKS

if TYPE_CHECKING:
    from segfw.engine.state import RunState


@HOOKS.register("write_scalars")
class WriteScalars(Hook):
    """Every ``trainer.log_interval`` steps and at the last: the named losses, ``lr``, ``images_per_s`` since
    the previous write (all ranks' images), and on CUDA the memory peak."""

    def before_train(self, trainer: RunState) -> None:
        self.tic, self.images = time.perf_counter(), 0

    def after_step(self, trainer: RunState) -> None:
        t = trainer.t
        self.images += t.batch_size * max(t.accumulate, 1) * dist_utils.world_size()
        if trainer.iteration % t.log_interval and trainer.iteration != trainer.max_iters:
            return
        elapsed = time.perf_counter() - self.tic
        scalars = {**trainer.losses, "lr": trainer.lr, "images_per_s": self.images / max(elapsed, 1e-9)}
        if trainer.device.type == "cuda":
            scalars["peak_memory_MiB"] = torch.cuda.max_memory_allocated(trainer.device) / 2**20
        trainer.logger.scalars(scalars, trainer.iteration, prefix="train/")
        self.tic, self.images = time.perf_counter(), 0
