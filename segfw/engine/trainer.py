"""Iteration-based training: setup (run folder, data, model, DDP/SyncBN, optimizer, AMP, resume) and the bare loop;
evaluation, checkpoints, TensorBoard curves, signals and the weight average are hooks (:mod:`segfw.engine.hooks`)."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from tqdm import tqdm

from segfw.atomic_write import write_text
from segfw.data.loader import SkippedSamples
from segfw.engine import distributed as dist_utils
from segfw.engine.best_metric import BestMetric
from segfw.engine.checkpoint import (
    prune_iteration_checkpoints,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from segfw.engine.console import SmoothedValue, describe_device, end_summary, resume_command, start_banner
from segfw.engine.data import build_eval_loader, build_split, build_train_stream
from segfw.engine.cpu_allocator import set_cpu_allocator
from segfw.engine.device import autocast, autocast_dtype, memory_format
from segfw.engine.evaluator import EvalResult, predict_batch
from segfw.engine.finite_guard import FiniteGuard, check_finite_weights
from segfw.engine.hooks import EMA, Evaluate, Hook, SaveCheckpoints, StopOnSignal, WriteScalars
from segfw.engine.logger import TensorBoardLogger
from segfw.engine.optim import build_optimizer, build_scheduler
from segfw.engine.resume_check import check_classes, flatten
from segfw.engine.run_costs import reset_peak_memory, write_costs
from segfw.engine.run_dir import RunFolder
from segfw.engine.run_record import record_console, write_environment
from segfw.errors import ConfigError, SkippedSample
from segfw.metrics import confusion_csv
from segfw.models.checkpointing import checkpoint_activations
from segfw.models.segmentor import Segmentor, build_segmentor


class LossStep(nn.Module):
    """``forward(images, masks) -> named losses``, so DDP sees the loss computation as the forward."""

    def __init__(self, segmentor: Segmentor):
        super().__init__()
        self.segmentor = segmentor

    def forward(self, images: Tensor, masks: Tensor) -> dict[str, Tensor]:
        return self.segmentor.losses(images, masks)


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


class Trainer:
    """Builds everything a run needs from a composed ``train`` config and runs it (see :meth:`run`)."""

    def __init__(self, cfg: DictConfig, device: torch.device, folder: RunFolder, resume_state: dict | None = None,
                 overrides: Sequence[str] = ()):
        """``folder``: the checked, locked run folder; ``resume_state``: the checkpoint to continue (resume=true);
        ``overrides``: the command line's overrides, for the resume command the banner prints. Nothing is
        written into the folder here; :meth:`run` writes ``config.yaml`` once all checks passed."""
        self.overrides = list(overrides)
        self.cfg, self.device, self.t, self.folder = cfg, device, cfg.trainer, folder
        self.main = dist_utils.is_main_process()
        seed_everything(cfg.seed, self.t.deterministic)
        self.run_dir = folder.path
        self.ckpt_dir = folder.checkpoints

        self.train_set = build_split(cfg, "train")
        self.val_set = build_split(cfg, "val")
        self.val_loader = build_eval_loader(self.val_set, self.t.num_workers, cfg.test.batch_size)
        self.skipped = SkippedSamples()
        self.classes = list(self.train_set.classes)
        if resume_state is not None:
            check_classes(resume_state["classes"], self.classes, str(self.run_dir))
        model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
        self.layout = memory_format(self.t.channels_last)
        if device.type == "cpu" and self.t.reuse_cpu_memory:
            set_cpu_allocator("reuse")
        self.model = build_segmentor(model_cfg, num_classes=len(self.classes)).to(device, memory_format=self.layout)
        checkpoint_parts(self.model, self.t.activation_checkpointing)
        self.step_module: nn.Module = LossStep(self.model)
        if dist_utils.world_size() > 1:
            if device.type == "cuda" and self.t.sync_bn:  # SyncBN needs NCCL; never on CPU/gloo
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
                self.step_module = LossStep(self.model)
            self.step_module = nn.parallel.DistributedDataParallel(
                self.step_module, device_ids=[device.index] if device.type == "cuda" else None
            )
        if self.t.compile:
            self.step_module = torch.compile(self.step_module)

        self.optimizer = build_optimizer(self.model, cfg.optimizer)
        self.scheduler = build_scheduler(self.optimizer, cfg.scheduler, self.t.max_iters)
        self.amp_dtype = autocast_dtype(device, self.t.amp, self.t.amp_dtype)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.iteration = 0
        self.best = BestMetric(self.t.best_metric, self.t.best_mode)
        self.finite = FiniteGuard(self.t.get("max_bad_steps", 0))
        self.losses: dict[str, float] = {}  # the step's state, read by the hooks (see segfw.engine.hooks.base)
        self.lr, self.is_eval_step, self.finished = 0.0, False, False
        self.eval_result: EvalResult | None = None
        if resume_state is not None:
            self._resume(resume_state)
        self.hooks: list[Hook] = default_hooks(self)  # after resuming: the weight average starts from these weights
        if resume_state is not None:
            saved = resume_state.get("hooks", {})
            for hook in self.hooks:
                if type(hook).__name__ in saved:
                    hook.load_state_dict(saved[type(hook).__name__])
        self.logger: TensorBoardLogger | None = None  # created by run(), once every check passed

    # ----------------------------------------------------------------------------- checkpoints
    def model_record(self) -> dict[str, Any]:
        """What rebuilds the model without the training state: weights, iteration, config, classes, palette."""
        return {
            "model": self.model.state_dict(),
            "iteration": self.iteration,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "classes": self.classes,
            "palette": None if self.train_set.palette is None else self.train_set.palette.tolist(),
        }

    def _state(self) -> dict[str, Any]:
        hooks = {type(hook).__name__: state for hook in self.hooks if (state := hook.state_dict())}
        return {
            **self.model_record(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best": self.best.state_dict(),
            "rng": rng_states(),
            **({"hooks": hooks} if hooks else {}),
        }

    def save(self, best: bool = False) -> None:
        """Write ``last.pt`` (and ``iter_*.pt``, ``best.pt``); weights that are not finite are never saved."""
        check_finite_weights(self.model, self.iteration)
        if not self.main:
            return
        state = self._state()
        save_checkpoint(self.ckpt_dir / "last.pt", state)
        if self.t.keep_checkpoints > 1:
            save_checkpoint(self.ckpt_dir / f"iter_{self.iteration:07d}.pt", state)
            prune_iteration_checkpoints(self.ckpt_dir, self.t.keep_checkpoints)
        if best:
            save_checkpoint(self.ckpt_dir / "best.pt", state)

    def _resume(self, state: dict) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            first = str(error).strip().splitlines()[0]
            raise ConfigError(f"resume=true: the checkpoint's weights do not fit the configured model ({first}); "
                              f"resume with the run's own model settings or start a new run_dir") from None
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.iteration = state["iteration"]
        self.best.load_state_dict(state.get("best", {}))
        restore_rng_states(state["rng"])
        if self.main:
            print(f"resumed from {state['_path']} at iteration {self.iteration}")

    def preflight(self) -> None:
        """The validation set's first sample through the test protocol, before the first training step, so a
        corrupt validation image or a bad ``test.*`` setting fails now and not at the first evaluation."""
        states = rng_states()
        item = self.val_set[0]
        if isinstance(item, SkippedSample):  # on_bad_sample=skip: the evaluation will skip it too
            return
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                predict_batch(self.model, item["image"][None].to(self.device), item["mask"].shape[-2:], self.cfg.test,
                              self.amp_dtype)
        except (RuntimeError, ValueError, TypeError) as error:
            first = str(error).strip().splitlines()[0]
            raise ConfigError(f"the test protocol (test.mode={self.cfg.test.mode}) fails on the first validation "
                              f"image {item['name']}: {first}; check test.crop_size/test.stride/test.scales") from None
        finally:
            self.model.train(was_training)
            restore_rng_states(states)

    # ----------------------------------------------------------------------------- loop
    def _train_step(self, batches) -> dict[str, float]:
        """One optimizer step; a non-finite loss skips the step or stops the run (see ``FiniteGuard``)."""
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, Tensor] = {}
        accumulate = max(self.t.accumulate, 1)
        for micro in range(accumulate):
            batch = next(batches)
            images = batch["image"].to(self.device, non_blocking=True)
            masks = batch["mask"].to(self.device, non_blocking=True)
            images = images.contiguous(memory_format=self.layout)
            sync = micro == accumulate - 1 or not hasattr(self.step_module, "no_sync")
            context = self.step_module.no_sync() if not sync else contextlib.nullcontext()
            with context:
                with autocast(self.device, self.amp_dtype):
                    losses = self.step_module(images, masks)
                loss = sum(losses.values())
                self.scaler.scale(loss / accumulate).backward()
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value.detach().float() / accumulate
        stacked = torch.stack([*totals.values(), sum(totals.values())])
        if dist_utils.world_size() > 1:  # every rank sees a nan of any rank (and logs the mean), so all stop together
            torch.distributed.all_reduce(stacked)
            stacked /= dist_utils.world_size()
        values = stacked.tolist()  # one device sync per step
        logged = dict(zip([*totals, "loss"], values))
        if self.finite.step_is_bad(logged, self.iteration + 1):
            self.optimizer.zero_grad(set_to_none=True)  # skipped: the weights stay as they were
            self.scheduler.step()
            return logged
        if self.t.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.t.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return logged

    def say(self, message: str) -> None:
        """Print ``message`` on rank 0 (the other ranks stay quiet)."""
        if self.main:
            print(message, flush=True)

    def run(self) -> dict:
        """Train to ``trainer.max_iters`` and return the final evaluation summary (also in metrics.json).
        Rank 0 also writes ``env.json`` and copies its console into ``log.txt`` (:mod:`segfw.engine.run_record`)."""
        self.preflight()
        self.folder.write_config(self.cfg)
        if self.main:
            write_environment(self.run_dir / "env.json", self.device)
        self.logger = TensorBoardLogger(self.run_dir, enabled=self.main)
        with record_console(self.run_dir / "log.txt", enabled=self.main):
            try:
                return self._run()
            finally:
                self._shutdown_workers()
                self.logger.close()

    def _shutdown_workers(self) -> None:
        """Stop the training loader's worker processes (they ignore SIGINT/SIGTERM, see ``seed_worker``)."""
        loader_iter = getattr(self, "_loader_iter", None)
        if loader_iter is not None and hasattr(loader_iter, "_shutdown_workers"):
            loader_iter._shutdown_workers()
        self._loader_iter = None

    def _run(self) -> dict:
        """The loop: hooks before training, then per step ``before_step``, one optimizer step, ``after_step``;
        ``after_train`` (reverse order) also when the loop ends early."""
        stream = build_train_stream(self.train_set, self.cfg, start_batch=self.iteration * max(self.t.accumulate, 1))
        self.say(self.banner())
        bar = tqdm(total=self.t.max_iters, initial=self.iteration, disable=not self.main, desc="train", dynamic_ncols=True)
        train_seconds, start_iteration = 0.0, self.iteration
        reset_peak_memory(self.device)
        smoothed = SmoothedValue()  # the bar shows an exponential moving average of the loss
        try:
            for hook in self.hooks:
                hook.before_train(self)
            self._loader_iter = iter(stream)  # starts the workers once the signals are caught
            batches = self.skipped.filter(self._loader_iter, total=len(self.train_set))
            while self.iteration < self.t.max_iters:
                for hook in self.hooks:
                    hook.before_step(self)
                step_tic = time.perf_counter()
                self.losses = self._train_step(batches)
                train_seconds += time.perf_counter() - step_tic
                self.iteration += 1
                self.lr = self.optimizer.param_groups[0]["lr"]
                self.is_eval_step = self.iteration == self.t.max_iters or self.iteration % self.t.eval_interval == 0
                bar.update(1)
                bar.set_postfix(loss=f"{smoothed.update(self.losses['loss']):.3f}", lr=f"{self.lr:.2e}")
                for hook in self.hooks:
                    hook.after_step(self)
                if self.is_eval_step:
                    bar.unpause()  # the bar's rate and ETA count training time only
            self.finished = True
        finally:
            bar.close()
            for hook in reversed(self.hooks):
                hook.after_train(self)
        return self._finish(train_seconds, self.iteration - start_iteration)

    def _finish(self, train_seconds: float, iterations: int) -> dict:
        """``metrics.json``, ``costs.json``, ``confusion.csv``, the hparams session and the end summary (rank 0)."""
        if len(self.skipped) and self.main:
            print(self.skipped.summary())
        summary = {**self.eval_result.summary, "best": self.best.state_dict()}  # what best.pt holds, on every rank
        if self.main:
            write_text(self.run_dir / "metrics.json", json.dumps(summary, indent=2))
            write_costs(self.run_dir, train_seconds, iterations, self.device)
            write_text(self.run_dir / "confusion.csv", confusion_csv(self.eval_result.confusion, self.classes))
            hparams = {k: v for k, v in flatten(OmegaConf.to_container(self.cfg, resolve=True)).items()
                       if k.split(".")[0] in ("model", "optimizer", "trainer", "dataset", "seed")}
            self.logger.hparams(hparams, {"mIoU": summary["mIoU"], "mAcc": summary["mAcc"], "aAcc": summary["aAcc"]})
            print(end_summary(self.best.name, self.best.value, self.best.iteration, self.run_dir,
                              self.ckpt_dir / "best.pt", self.run_dir / "metrics.json"))
        return summary

    def banner(self) -> str:
        params = sum(p.numel() for p in self.model.parameters())
        sizes = {"train": len(self.train_set), "val": len(self.val_set)}
        return start_banner(self.run_dir, describe_device(self.device), sizes, params, resume_command(self.run_dir, self.overrides))


def default_hooks(trainer: Trainer) -> list[Hook]:
    """A run's hooks in the order they run after each step: curves, evaluation, the weight average
    (``trainer.ema.enabled``), checkpoints, then the signal check (which saves and stops)."""
    ema = dict(trainer.t.get("ema") or {})  # a run saved before trainer.ema existed has no such node
    averaged = [EMA(trainer.model, **{k: v for k, v in ema.items() if k != "enabled"})] if ema.get("enabled") else []
    return [WriteScalars(), Evaluate(), *averaged, SaveCheckpoints(), StopOnSignal()]


CHECKPOINTABLE_PARTS = ("backbone", "neck", "head", "aux_head")


def checkpoint_parts(model: Segmentor, parts) -> None:
    """``trainer.activation_checkpointing``: run the named parts of ``model`` under activation checkpointing."""
    for part in parts:
        if part not in CHECKPOINTABLE_PARTS or getattr(model, part, None) is None:
            raise ConfigError(f"trainer.activation_checkpointing names '{part}', which this model does not have; "
                              f"choose from {', '.join(p for p in CHECKPOINTABLE_PARTS if getattr(model, p, None))}")
        checkpoint_activations(getattr(model, part))
