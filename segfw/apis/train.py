"""``tools/train.py``: one training job from a composed ``train`` config, in a checked, locked run folder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from segfw.apis.run import merge_run_config
from segfw.config import with_component_settings
from segfw.engine import distributed as dist_utils
from segfw.engine.checkpoint import load_checkpoint, newest_checkpoint
from segfw.engine.config_checks import check_train_config
from segfw.engine.device import resolve_device
from segfw.engine.console import resume_command
from segfw.engine.resume_check import LAUNCH_KEYS, check_changes, check_world_size, config_changes, describe_changes
from segfw.engine.run_dir import RunFolder
from segfw.engine.default_trainer import DefaultTrainer
from segfw.errors import ConfigError


def resumed_config(cfg: DictConfig, folder: RunFolder, overrides: Sequence[str] | None) -> tuple[DictConfig, dict]:
    """The config a resumed run continues with, and the checkpoint state it continues from.

    The checkpoint's saved config is the base; with ``overrides`` (the tool's command line) only the keys
    they set come from ``cfg``; with None (a Python caller), ``cfg`` is taken as given. The changes are
    printed; the model, ``trainer.max_iters`` and the process count (the global batch) may only change with
    ``resume_allow_changes=true``. ``device`` is the run's unless the command line sets it.
    """
    path = newest_checkpoint(folder.checkpoints)
    state = load_checkpoint(path)
    state["_path"] = path
    saved = OmegaConf.create(state["config"])
    if overrides is not None:
        run_keys = [o for o in overrides if o.split("=", 1)[0].lstrip("+~").split(".")[0] not in LAUNCH_KEYS]
        launch = {key: cfg.get(key) for key in LAUNCH_KEYS if key in cfg}
        cfg = OmegaConf.merge(merge_run_config(saved, cfg, run_keys), launch)
    changes = config_changes(OmegaConf.to_container(saved, resolve=True), OmegaConf.to_container(cfg, resolve=True))
    allow = bool(cfg.get("resume_allow_changes"))
    check_changes(changes, allow, str(folder.path))
    batch = cfg.trainer.batch_size * max(cfg.trainer.accumulate, 1)
    check_world_size(state.get("world_size"), dist_utils.world_size(), batch, allow, str(folder.path),
                     resume_command(folder.path, overrides or (), processes=state.get("world_size")))
    if dist_utils.is_main_process():
        print(describe_changes(changes))
    return cfg, state


def resumed_device(name: str, launched: torch.device) -> torch.device:
    """The device of a resumed run (its saved ``device`` unless the command line set one); under torchrun it must
    be of the kind the process group was started for (``launched``)."""
    device = resolve_device(name, dist_utils.local_rank())
    if device.type != launched.type and dist_utils.world_size() > 1:
        raise ConfigError(f"resume=true: the run was trained with device={name}, but this torchrun launch started on "
                          f"{launched.type}; add device={name} to the command line")
    return device


def train(cfg: DictConfig, overrides: Sequence[str] | None = None) -> dict:
    """Run the training job ``cfg`` describes (under torchrun: this process's share); returns the final metrics.

    ``overrides``: the command line that composed ``cfg`` (what a resumed run changes, see :func:`resumed_config`).
    Every value is range-checked before anything is built; the run folder is checked and locked first
    (see :class:`segfw.engine.run_dir.RunFolder`), and a launch failing before its first checkpoint
    leaves no folder behind.
    """
    check_train_config(cfg)
    device = resolve_device(cfg.device, dist_utils.local_rank())
    dist_utils.init_distributed(device)
    try:
        with RunFolder(cfg) as folder:
            state = None
            if cfg.resume:
                cfg, state = resumed_config(cfg, folder, overrides)
                check_train_config(cfg)
                device = resumed_device(cfg.device, device)
            cfg = with_component_settings(cfg)  # a plugin hook's or logger's YAML keys, saved with the run
            return DefaultTrainer(cfg, device, folder, state, overrides or ()).run()
    finally:
        dist_utils.shutdown_distributed()
