"""Checkpoints: written atomically, holding everything needed to resume bit-exactly or rebuild the model."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from segfw.errors import ConfigError

_ITER_NAME = re.compile(r"iter_(\d+)\.pt$")


def rng_states() -> dict[str, Any]:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` through a temporary file, so a crash never leaves a half checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"checkpoint '{path}' does not exist; give checkpoint=FILE or run_dir=PATH of a trained run")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ConfigError(f"checkpoint '{path}' cannot be read ({type(error).__name__}: {error}); is it a segfw checkpoint?") from None


def prune_iteration_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest ``iter_*.pt`` files."""
    found = sorted((int(m.group(1)), p) for p in folder.glob("iter_*.pt") if (m := _ITER_NAME.search(p.name)))
    for _, path in found[: max(len(found) - keep, 0)]:
        path.unlink(missing_ok=True)


def newest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the highest iteration among ``last.pt`` and ``iter_*.pt`` in ``folder``."""
    candidates = [p for p in folder.glob("iter_*.pt")] + [p for p in [folder / "last.pt"] if p.is_file()]
    best, best_iter = None, -1
    for path in candidates:
        match = _ITER_NAME.search(path.name)
        iteration = int(match.group(1)) if match else load_checkpoint(path)["iteration"]
        if iteration > best_iter:
            best, best_iter = path, iteration
    return best


def model_from_checkpoint(path: str | Path, device: torch.device | str = "cpu"):
    """Rebuild the trained model from a checkpoint alone: ``(model in eval mode, run config, class names)``."""
    return model_from_state(load_checkpoint(path), device)


def model_from_state(state: dict[str, Any], device: torch.device | str = "cpu"):
    """:func:`model_from_checkpoint` of a loaded checkpoint ``state``."""
    from segfw.models.segmentor import build_segmentor

    cfg = OmegaConf.create(state["config"])
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model_cfg["backbone"]["pretrained"] = None  # the checkpoint holds the weights
    model = build_segmentor(model_cfg, num_classes=len(state["classes"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg, list(state["classes"])
