"""A training run folder as an object, and how the tools that reuse a run merge their command line into it.

A run folder (``outputs/<experiment>/<timestamp>`` or ``run_dir``) holds ``config.yaml`` (the resolved
config), ``checkpoints/{last,best,iter_*}.pt``, ``log.txt`` (what the console showed), ``env.json``
(code version, packages, device, command line), ``metrics.json`` and the TensorBoard event files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from segfw.constants import IGNORE_INDEX, default_palette
from segfw.engine.checkpoint import load_checkpoint, model_from_state
from segfw.errors import ConfigError

# Keys that address the tool itself, never the saved run's settings.
TOOL_KEYS = {"run_dir", "checkpoint", "output", "save_predictions", "input", "device", "alpha", "format",
             "input_size", "overwrite", "hydra"}


@dataclass
class Run:
    """One trained run: its folder and the checkpoint that stands for it (``best.pt``, else ``last.pt``).

    ``Run.locate(run_dir=PATH)`` or ``Run.locate(checkpoint=FILE)``; then ``run.config`` (the resolved
    training config saved with the weights), ``run.classes``, ``run.palette``, ``run.build_model(device)``,
    ``run.checkpoints()``, ``run.log_file``, ``run.env()``, and ``run.settings(cli_cfg, overrides)`` for a
    tool's command line merged into the saved config key by key.
    """

    folder: Path
    checkpoint: Path
    _state: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def locate(cls, run_dir: str | Path | None = None, checkpoint: str | Path | None = None) -> Run:
        """``checkpoint=FILE`` (its run folder is the one holding ``checkpoints/``), else ``run_dir``'s best."""
        if checkpoint:
            path = Path(checkpoint).expanduser()
            folder = path.parent.parent if path.parent.name == "checkpoints" else path.parent
            return cls(Path(run_dir).expanduser() if run_dir else folder, path)
        if run_dir:
            folder = Path(run_dir).expanduser()
            for name in ("best.pt", "last.pt"):
                if (folder / "checkpoints" / name).is_file():
                    return cls(folder, folder / "checkpoints" / name)
            raise ConfigError(f"run_dir '{run_dir}' has no checkpoints/best.pt or last.pt; is it a training run folder?")
        raise ConfigError("say which model to use: run_dir=PATH (a training run) or checkpoint=FILE")

    @property
    def state(self) -> dict[str, Any]:
        """The checkpoint's contents (read once)."""
        if self._state is None:
            self._state = load_checkpoint(self.checkpoint)
        return self._state

    @property
    def config(self) -> DictConfig:
        """The resolved training config the checkpoint's weights were trained with."""
        return OmegaConf.create(self.state["config"])

    @property
    def classes(self) -> list[str]:
        return list(self.state["classes"])

    @property
    def palette(self) -> np.ndarray:
        """(K, 3) uint8 colours of the training set (the default palette when it had none)."""
        saved = self.state.get("palette")
        return np.asarray(saved, dtype=np.uint8) if saved else default_palette(len(self.classes))

    def build_model(self, device: torch.device | str = "cpu", model_cfg: Any = None) -> torch.nn.Module:
        """The trained segmentor on ``device``, in eval mode; ``model_cfg`` (e.g. the ``model`` node of
        :meth:`settings`, with a new ``threshold``) replaces the saved ``model`` config."""
        state = self.state
        if model_cfg is not None:
            model = OmegaConf.to_container(OmegaConf.create(model_cfg), resolve=True)
            state = {**state, "config": {**state["config"], "model": model}}
        return model_from_state(state, device, source=str(self.checkpoint))[0]

    def checkpoints(self) -> list[Path]:
        """Every checkpoint file of the run, sorted by name."""
        return sorted((self.folder / "checkpoints").glob("*.pt"))

    @property
    def log_file(self) -> Path:
        return self.folder / "log.txt"

    def env(self) -> dict[str, Any]:
        """``env.json``: code version, package versions, device and command line of the training run."""
        path = self.folder / "env.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def settings(self, cli_cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
        """The run's saved config with each key the command line set taken from ``cli_cfg``."""
        return merge_run_config(self.config, cli_cfg, overrides)


def overridden_paths(overrides: Sequence[str]) -> Iterator[tuple[str, bool]]:
    """``(dotted path, deleted)`` of each override addressing the run's settings, e.g. ``test.flip=true`` →
    ``("test.flip", False)``, ``model/neck=x`` → ``("model.neck", False)``, ``~test.stride`` → ``("test.stride", True)``."""
    for override in overrides:
        key = override.split("=", 1)[0]
        path = key.lstrip("+~").replace("/", ".")
        if path.split(".")[0] not in TOOL_KEYS:
            yield path, key.startswith("~")


def merge_run_config(run_cfg: DictConfig, cli_cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """``run_cfg`` with every overridden key (or swapped group, e.g. ``dataset=folder``) replaced by its value in
    ``cli_cfg``, all other keys kept. Whole nodes go first, so ``dataset=folder dataset.root=X`` works in any
    order; interpolations in copied nodes resolve against the merged config."""
    merged = OmegaConf.create(OmegaConf.to_container(run_cfg, resolve=True))
    if "ignore_index" not in merged:  # a run saved before the key existed: it used the library default
        merged.ignore_index = IGNORE_INDEX
    for path, deleted in sorted(set(overridden_paths(overrides)), key=lambda item: item[0].count(".")):
        parent, _, leaf = path.rpartition(".")
        if deleted:
            node = OmegaConf.select(merged, parent) if parent else merged
            if node is not None and leaf in node:
                del node[leaf]
            continue
        value = OmegaConf.select(cli_cfg, path, throw_on_missing=False)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=False)
        OmegaConf.update(merged, path, value, merge=False, force_add=True)
    return OmegaConf.create(OmegaConf.to_container(merged, resolve=True))


def command_line_overrides() -> list[str]:
    """The overrides of the running Hydra app (empty outside one)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
