"""A training run from a composed ``train`` config (detectron2's ``DefaultTrainer``): :func:`build_training`
makes the loop's parts (data, model, DDP/SyncBN, compile, optimizer, schedule, precision), the hooks
(``trainer.hooks`` + ``trainer.extra_hooks``, :data:`segfw.registry.HOOKS`) and the loggers
(``trainer.loggers``, :data:`segfw.registry.LOGGERS`) come by name, and :class:`DefaultTrainer` adds what a
run folder needs around :class:`segfw.engine.trainer.Trainer`: resume, checkpoints, ``config.yaml``,
``env.json``, ``log.txt``, ``metrics.json``, ``costs.json``, ``confusion.csv`` and the end summary."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DataLoader

from segfw.atomic_write import write_text
from segfw.distance_metrics import flat_scores
from segfw.constants import TRAINER_HOOKS, TRAINER_LOGGERS
from segfw.data.datasets.base import SegmentationDataset
from segfw.data.loader import SkippedSamples
from segfw.data.split_check import check_split, describe_problems
from segfw.engine import distributed as dist_utils
from segfw.engine.best_metric import BestMetric
from segfw.engine.checkpoint import prune_iteration_checkpoints, restore_rng_states, rng_states, save_checkpoint
from segfw.engine.console import describe_device, end_summary, resume_command, start_banner
from segfw.engine.cpu_allocator import set_cpu_allocator
from segfw.engine.data import build_eval_loader, build_split, build_train_stream
from segfw.engine.device import autocast_dtype, memory_format
from segfw.engine.evaluator import predict_batch
from segfw.engine.finite_guard import check_finite_weights
from segfw.engine.hooks import Hook
from segfw.engine.loggers import build_loggers
from segfw.engine.optim import build_optimizer, build_scheduler
from segfw.engine.resume_check import check_classes, flatten
from segfw.engine.run_costs import write_costs
from segfw.engine.run_dir import RunFolder
from segfw.engine.run_record import record_console, write_environment
from segfw.engine.trainer import LossStep, Precision, Trainer
from segfw.errors import BadSampleError, ConfigError, SkippedSample
from segfw.metrics import confusion_csv
from segfw.models.checkpointing import checkpoint_parts
from segfw.models.segmentor import Segmentor, build_segmentor
from segfw.registry import HOOKS


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


@dataclass
class TrainingParts:
    """What :func:`build_training` makes from a config: everything the loop runs but the data stream (which
    starts where a resumed run stopped), the hooks and the loggers."""

    train_set: SegmentationDataset
    val_set: SegmentationDataset
    val_loader: DataLoader
    model: Segmentor
    step: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    precision: Precision


def build_training(cfg: DictConfig, device: torch.device) -> TrainingParts:
    """The datasets, the model (``trainer.channels_last``, ``activation_checkpointing``; SyncBN and DDP under
    torchrun, ``torch.compile`` with ``trainer.compile``), the optimizer, the schedule and the precision
    (``trainer.amp``, ``amp_dtype``) of the ``train`` config ``cfg``, seeded with ``cfg.seed``."""
    t = cfg.trainer
    seed_everything(cfg.seed, t.deterministic)
    train_set, val_set = build_split(cfg, "train"), build_split(cfg, "val")
    val_loader = build_eval_loader(val_set, t.num_workers, cfg.test.batch_size)
    layout = memory_format(t.channels_last)
    if device.type == "cpu" and t.reuse_cpu_memory:
        set_cpu_allocator("reuse")
    model = build_segmentor(OmegaConf.to_container(cfg.model, resolve=True), num_classes=len(train_set.classes))
    model = model.to(device, memory_format=layout)
    checkpoint_parts(model, t.activation_checkpointing)
    step: nn.Module = LossStep(model)
    if dist_utils.in_process_group():  # under torchrun, one process included (DDP over NCCL or gloo)
        if device.type == "cuda" and t.sync_bn:  # SyncBN needs NCCL; never on CPU/gloo
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            step = LossStep(model)
        step = nn.parallel.DistributedDataParallel(step, device_ids=[device.index] if device.type == "cuda" else None)
    if t.compile:
        step = torch.compile(step)
    optimizer = build_optimizer(model, cfg.optimizer)
    scheduler = build_scheduler(optimizer, cfg.scheduler, t.max_iters)
    precision = Precision(autocast_dtype(device, t.amp, t.amp_dtype), layout)
    return TrainingParts(train_set, val_set, val_loader, model, step, optimizer, scheduler, precision)


def build_hooks(entries: Iterable[Any], trainer: Any, settings: Mapping[str, Mapping] | None = None) -> list[Hook]:
    """The hooks ``entries`` name (names or ``{name: ..., **kwargs}`` nodes), each given ``trainer`` when its
    constructor takes it; a factory may return None (e.g. ``ema`` with ``trainer.ema.enabled=false``).
    ``settings``: each hook's keys by name (``trainer.hook.<name>``, from ``configs/trainer/hook/<name>.yaml``),
    under an entry's own keys."""
    built = [HOOKS.build(HOOKS.node(entry, "trainer.hooks", settings), trainer=trainer) for entry in entries]
    return [hook for hook in built if hook is not None]


def settings(node: Any, key: str) -> dict:
    """``node.<key>`` (``trainer.hook``, ``trainer.logger``: each component's keys by name) as a plain dict
    (empty when the node lacks it: a run saved before the key existed)."""
    value = node.get(key)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else dict(value or {})


def listed(node: Any, key: str, default: Sequence[str]) -> list:
    """``node.<key>`` as a plain list (``default`` when the node lacks it: a run saved before the key existed)."""
    value = node.get(key)
    if value is None:
        return list(default)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else list(value)


class DefaultTrainer(Trainer):
    """The loop of a config-built run in a checked, locked run folder (see :meth:`run`)."""

    def __init__(self, cfg: DictConfig, device: torch.device, folder: RunFolder, resume_state: dict | None = None,
                 overrides: Sequence[str] = ()):
        """``folder``: the checked, locked run folder; ``resume_state``: the checkpoint to continue (resume=true);
        ``overrides``: the command line's overrides, for the resume command the banner prints. Nothing is
        written into the folder here; :meth:`run` writes ``config.yaml`` once all checks passed."""
        parts = build_training(cfg, device)
        t = cfg.trainer
        super().__init__(parts.model, parts.optimizer, (), max_iters=t.max_iters, step=parts.step,
                         scheduler=parts.scheduler, precision=parts.precision, device=device,
                         accumulate=t.accumulate, grad_clip=t.grad_clip, eval_interval=t.eval_interval,
                         max_bad_steps=t.get("max_bad_steps", 0))
        self.overrides, self.cfg, self.t, self.folder = list(overrides), cfg, t, folder
        self.run_dir, self.ckpt_dir = folder.path, folder.checkpoints
        self.train_set, self.val_set, self.val_loader = parts.train_set, parts.val_set, parts.val_loader
        self.skipped = SkippedSamples()
        self.classes = list(self.train_set.classes)
        self.layout = parts.precision.layout
        self.best = BestMetric(t.best_metric, t.best_mode)
        if resume_state is not None:
            check_classes(resume_state["classes"], self.classes, str(self.run_dir))
            self._resume(resume_state)
        self.start_iter = self.iteration
        self.data = build_train_stream(self.train_set, cfg, start_batch=self.iteration * self.accumulate)
        # after resuming: the weight average starts from these weights
        self.hooks = build_hooks([*listed(t, "hooks", TRAINER_HOOKS), *listed(t, "extra_hooks", ())], self,
                                 settings(t, "hook"))
        if resume_state is not None:
            saved = resume_state.get("hooks", {})
            for hook in self.hooks:
                if type(hook).__name__ in saved:
                    hook.load_state_dict(saved[type(hook).__name__])

    def batches(self, loader_iter: Iterator) -> Iterator:
        return self.skipped.filter(loader_iter, total=len(self.train_set))

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
            "world_size": dist_utils.world_size(),  # a resume with another count is refused (the global batch)
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

    def check_val_split(self) -> None:
        """Every validation image and label checked from its header and a scan of the label
        (:func:`segfw.data.split_check.check_split`, on rank 0): a bad one is one line now, not at the first
        evaluation; with ``dataset.on_bad_sample=skip`` it is a warning (the evaluation skips it)."""
        problems = dist_utils.broadcast_object(check_split(self.val_set) if self.main else None)
        if not problems:
            return
        message = describe_problems(problems, "val", len(self.val_set))
        if self.val_set.on_bad_sample != "skip":
            raise BadSampleError(message)
        self.say(f"warning: {message.partition('; found by')[0]}: the evaluation will skip them")

    def preflight(self) -> None:
        """The whole validation split checked (:meth:`check_val_split`), and its first sample run through the
        test protocol, before the first training step, so a bad validation file or a bad ``test.*`` setting
        fails now and not at the first evaluation."""
        self.check_val_split()
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

    # ----------------------------------------------------------------------------- the run
    def run(self) -> dict:
        """Train to ``trainer.max_iters`` and return the final evaluation summary (also in metrics.json).
        Rank 0 also writes ``env.json``, copies its console into ``log.txt`` (:mod:`segfw.engine.run_record`)
        and builds the loggers of ``trainer.loggers`` (a resumed run continues their records). With
        ``overwrite=true`` the previous run's files are deleted after the checks (config, data, pre-flight)."""
        self.preflight()
        self.folder.replace_previous_run()  # overwrite=true: only now, with every check passed
        self.folder.write_config(self.cfg)
        if self.main:
            write_environment(self.run_dir / "env.json", self.device, resumed=bool(self.cfg.get("resume")))
        self.logger = build_loggers(listed(self.t, "loggers", TRAINER_LOGGERS), self.run_dir,
                                    resume=bool(self.cfg.get("resume")), enabled=self.main,
                                    settings=settings(self.t, "logger"))
        with record_console(self.run_dir / "log.txt", enabled=self.main):
            try:
                self.logger.config(OmegaConf.to_container(self.cfg, resolve=True))
                self.say(self.banner())
                super().run()
                return self._finish()
            finally:
                self.logger.close()

    def _finish(self) -> dict:
        """``metrics.json``, ``costs.json``, ``confusion.csv``, the hparams session and the end summary (rank 0)."""
        if len(self.skipped) and self.main:
            print(self.skipped.summary())
        summary = {**self.eval_result.summary, "best": self.best.state_dict()}  # what best.pt holds, on every rank
        if self.main:
            write_text(self.run_dir / "metrics.json", json.dumps(summary, indent=2))
            write_costs(self.run_dir, self.train_seconds, self.iteration - self.start_iter, self.device)
            write_text(self.run_dir / "confusion.csv", confusion_csv(self.eval_result.confusion, self.classes))
            hparams = {k: v for k, v in flatten(OmegaConf.to_container(self.cfg, resolve=True)).items()
                       if k.split(".")[0] in ("model", "optimizer", "trainer", "dataset", "seed")}
            self.logger.hparams(hparams, {"mIoU": summary["mIoU"], "mAcc": summary["mAcc"], "aAcc": summary["aAcc"],
                                          **flat_scores(summary)})  # + the families' scores (context_arena)
            print(end_summary(self.best.name, self.best.value, self.best.iteration, self.run_dir,
                              self.ckpt_dir / "best.pt", self.run_dir / "metrics.json"))
        return summary

    def resume_command(self) -> str:
        """The shell command that continues this run (see :func:`segfw.engine.console.resume_command`)."""
        return resume_command(self.run_dir, self.overrides)

    def banner(self) -> str:
        params = sum(p.numel() for p in self.model.parameters())
        sizes = {"train": len(self.train_set), "val": len(self.val_set)}
        return start_banner(self.run_dir, describe_device(self.device), sizes, params, self.resume_command())
