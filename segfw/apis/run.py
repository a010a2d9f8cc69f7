"""A trained run seen from the tools that use it (eval, infer, export): checkpoint, config, overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from segfw.registry import ConfigError

# Keys that address the tool itself, never the saved run's settings.
TOOL_KEYS = {"run_dir", "checkpoint", "output", "save_predictions", "input", "device", "alpha", "format", "hydra"}


def find_checkpoint(cfg: DictConfig) -> Path:
    """``checkpoint=FILE``, else ``run_dir``'s best.pt (last.pt when there is no best.pt)."""
    if cfg.get("checkpoint"):
        return Path(cfg.checkpoint).expanduser()
    if cfg.get("run_dir"):
        folder = Path(cfg.run_dir).expanduser() / "checkpoints"
        for name in ("best.pt", "last.pt"):
            if (folder / name).is_file():
                return folder / name
        raise ConfigError(f"run_dir '{cfg.run_dir}' has no checkpoints/best.pt or last.pt; is it a training run folder?")
    raise ConfigError("say which model to use: run_dir=PATH (a training run) or checkpoint=FILE")


def overridden_groups(overrides: Sequence[str]) -> set[str]:
    """Top-level config nodes a command line changed, e.g. ``dataset.root=X`` → ``dataset``."""
    tops = set()
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        tops.add(key.replace("/", ".").split(".")[0])
    return tops - TOOL_KEYS


def merge_run_config(run_cfg: DictConfig, cli_cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The run's saved config, with the top-level nodes the command line overrode taken from it."""
    merged = OmegaConf.create(OmegaConf.to_container(run_cfg, resolve=True))
    for top in overridden_groups(overrides):
        if top in cli_cfg:
            merged[top] = OmegaConf.to_container(cli_cfg[top], resolve=True)
    return merged


def command_line_overrides() -> list[str]:
    """The overrides of the running Hydra app (empty outside one)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
