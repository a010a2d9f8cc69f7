"""Choosing the device and the mixed-precision context for it."""

from __future__ import annotations

import contextlib

import torch

from segfw.errors import ConfigError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → the local rank's GPU when CUDA is available, else CPU; ``cuda`` without a GPU fails clearly."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device=cuda, but no CUDA GPU is visible; use device=cpu or device=auto")
        device = torch.device(name if ":" in name else f"cuda:{local_rank}")
        torch.cuda.set_device(device)
        return device
    if name != "cpu":
        raise ConfigError(f"unknown device '{name}'; use cpu, cuda, cuda:N or auto")
    return torch.device("cpu")


def autocast_dtype(device: torch.device, enabled: bool, dtype_name: str) -> torch.dtype | None:
    """The autocast dtype: bf16 on CPU, fp16 or bf16 on CUDA; None when AMP is off."""
    if not enabled:
        return None
    if dtype_name not in ("bf16", "fp16"):
        raise ConfigError(f"trainer.amp_dtype='{dtype_name}' is not supported; use bf16 or fp16")
    if device.type == "cuda" and dtype_name == "fp16":
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
