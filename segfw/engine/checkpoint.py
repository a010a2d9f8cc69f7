"""Checkpoints: written atomically, holding everything needed to resume bit-exactly or rebuild the model.

A checkpoint holds tensors and plain Python values only (the RNG states too), so it is loaded with
``torch.load(weights_only=True)``: a file carrying pickled code is refused before any of it runs.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core.multiarray import _reconstruct
import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from segfw.atomic_write import atomic_write
from segfw.errors import ConfigError

_ITER_NAME = re.compile(r"iter_(\d+)\.pt$")
_UNSAFE_GLOBAL = re.compile(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) ([\w.]+)")
# numpy arrays in checkpoints written before the RNG state became tensors: only these globals are allowed
_LEGACY_NUMPY = [np.ndarray, np.dtype, np.dtypes.UInt32DType, _reconstruct]


def rng_states() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) RNG states as plain values and tensors (``weights_only``-loadable)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),  # (version, tuple of ints, float | None)
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(tuple(states["python"][:1]) + (tuple(states["python"][1]),) + tuple(states["python"][2:]))
    numpy_state = states["numpy"]
    if isinstance(numpy_state, dict):
        keys = numpy_state["keys"].numpy().astype(np.uint32)
        numpy_state = (numpy_state["kind"], keys, numpy_state["pos"], numpy_state["has_gauss"],
                       numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` through a unique temporary file, so a crash never leaves a half checkpoint
    and concurrent writers never share a temporary name; a full or read-only disk raises a one-line WriteError."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a Python file: a failed write surfaces as an OSError with its errno
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the rename makes it the checkpoint

    atomic_write(path, write)


def refusal(path: Path, error: pickle.UnpicklingError) -> str:
    """One line for a checkpoint ``torch.load(weights_only=True)`` refused."""
    match = _UNSAFE_GLOBAL.search(str(error))
    what = f"a reference to code ({match.group(1)})" if match else "objects other than tensors and plain values"
    return (f"checkpoint '{path}' refused: it holds {what}, and loading it could run code; segfw checkpoints "
            "hold tensors and plain values only, so this file was not written by segfw or was altered")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's state dict, loaded with ``weights_only=True`` (code in the file never runs)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"checkpoint '{path}' does not exist; give checkpoint=FILE or run_dir=PATH of a trained run")
    try:
        with torch.serialization.safe_globals(_LEGACY_NUMPY):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ConfigError(refusal(path, error)) from None
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ConfigError(f"checkpoint '{path}' cannot be read ({type(error).__name__}: {first}); "
                          "is it a complete segfw checkpoint?") from None
    missing = [key for key in ("model", "config", "classes") if not isinstance(state, dict) or key not in state]
    if missing:
        raise ConfigError(f"checkpoint '{path}' is not a segfw checkpoint (no {', '.join(missing)}); a bare state dict or "
                          "another framework's checkpoint must be converted first")
    return state


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


def model_from_state(state: dict[str, Any], device: torch.device | str = "cpu", source: str = "checkpoint"):
    """:func:`model_from_checkpoint` of a loaded checkpoint ``state`` (``source`` names it in errors)."""
    from segfw.models.segmentor import build_segmentor

    try:
        cfg = OmegaConf.create(state["config"])
        model_cfg = OmegaConf.to_container(cfg["model"], resolve=True)
        backbone, classes = model_cfg["backbone"], state["classes"]
    except (KeyError, TypeError, ValueError, OmegaConfBaseException) as error:
        key = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{source}: its saved config lacks {key} (it needs config.model with a backbone, and "
                          "classes); use a checkpoint written by tools/train.py, or convert other weights with "
                          "tools/convert_checkpoint.py") from None
    if isinstance(backbone, dict) and "pretrained" in backbone:
        backbone["pretrained"] = None  # the checkpoint holds the weights
    model = build_segmentor(model_cfg, num_classes=len(classes))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:  # "Error(s) in loading state_dict ...: Missing key(s) ..., size mismatch ..."
        detail = " ".join(str(error).split())[:300]
        raise ConfigError(f"the checkpoint's weights do not match the model its config describes ({detail}); "
                          "was the checkpoint edited, or the model changed on the command line?") from None
    return model.to(device).eval(), cfg, list(state["classes"])
