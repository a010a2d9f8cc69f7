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


def memory_format(channels_last: bool) -> torch.memory_format:
    """NHWC (``torch.channels_last``) or NCHW: the layout of a model's 4-D weights and of its input images.

    NHWC is the layout oneDNN (CPU) and cuDNN (tensor cores) convolutions run fastest in; results
    equal NCHW's within float32 rounding (tests/engine/test_fast_defaults.py).
    """
    return torch.channels_last if channels_last else torch.contiguous_format


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU with bf16 (Ampere or newer), or a CPU
    with AVX-512 BF16 / AMX that oneDNN uses. Elsewhere bf16 is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.backends.mkldnn.is_available() and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def autocast_dtype(device: torch.device, enabled: bool, dtype_name: str) -> torch.dtype | None:
    """The autocast dtype, None when AMP is off.

    ``auto``: bf16 where ``device`` computes it natively (:func:`native_bf16`); else fp16 on CUDA (the
    trainer then scales the loss with a GradScaler) and, on a CPU without native bf16, None (float32:
    emulated bf16 would be slower), with a note. ``bf16`` forces bf16; ``fp16`` is fp16 on CUDA and bf16 on
    CPU (autocast's CPU dtype), so that a run trained with fp16 on a GPU evaluates on a CPU.
    """
    if not enabled:
        return None
    if dtype_name not in ("auto", "bf16", "fp16"):
        raise ConfigError(f"trainer.amp_dtype='{dtype_name}' is not supported; use auto, bf16 or fp16")
    if dtype_name == "auto" and not native_bf16(device):
        if device.type == "cuda":
            return torch.float16
        print("note: trainer.amp=true, but this CPU has no native bf16 (AVX-512 BF16 or AMX); running float32")
        return None
    return torch.float16 if dtype_name == "fp16" and device.type == "cuda" else torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
