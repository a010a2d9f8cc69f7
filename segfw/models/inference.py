"""Test-time inference: whole image or sliding window, over scales and horizontal flips.

Every mode returns class probabilities (softmax; for one-channel binary models [1 - σ, σ]) at the input size, averaged over scales and
flips, as papers' multi-scale + flip protocol does. Sliding windows average overlapping logits.
Accumulation runs in at least float32 (float64 stays float64), also under bf16/fp16 autocast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from segfw.models.layers import resize
from segfw.registry import ConfigError

MODES = ("whole", "slide")


def predict_probabilities(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    mode: str = "whole",
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    crop_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
) -> Tensor:
    """Class probabilities (B, K, H, W) for images (B, 3, H, W).

    ``model(x)`` must return logits (B, K, h, w) at the size of x (B, 3, h, w). Each scale s
    resizes the images to (round(s·H), round(s·W)) (bilinear); ``flip`` adds the mirrored image,
    whose logits are mirrored back. ``mode="slide"`` runs crops of ``crop_size`` every ``stride``
    pixels (the last window flush with the border) and averages overlapping logits. Logits are
    resized to (H, W), turned into probabilities, and the probabilities averaged.
    """
    _check_protocol(mode, scales, crop_size, stride)
    height, width = images.shape[-2:]
    total = None
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = resize(images, size)
        for flipped in (False, True) if flip else (False,):
            x = scaled.flip(-1) if flipped else scaled
            logits = _slide(model, x, crop_size, stride) if mode == "slide" else model(x)
            logits = logits.to(_accumulation_dtype(logits.dtype))
            if flipped:
                logits = logits.flip(-1)
            probs = class_probabilities(resize(logits, (height, width)))
            total = probs if total is None else total + probs
    return total / (len(scales) * (2 if flip else 1))


def class_probabilities(logits: Tensor) -> Tensor:
    """Logits (B, K, H, W) → probabilities: softmax over K; one channel (binary mode, a foreground
    logit z) → the two classes' probabilities ``[1 - σ(z), σ(z)]``, (B, 2, H, W)."""
    if logits.shape[1] == 1:
        foreground = logits.sigmoid()
        return torch.cat([1 - foreground, foreground], dim=1)
    return logits.softmax(dim=1)


def _check_protocol(mode: str, scales: Sequence[float], crop_size: Sequence[int] | None,
                    stride: Sequence[int] | None) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown test.mode '{mode}'; choose one of {', '.join(MODES)}")
    if not scales or any(s <= 0 for s in scales):
        raise ConfigError(f"test.scales={list(scales)} must be a non-empty list of positive factors, e.g. [1.0]")
    if mode != "slide":
        return
    if crop_size is None or stride is None or len(crop_size) != 2 or len(stride) != 2:
        raise ConfigError("test.mode=slide needs test.crop_size=[H,W] and test.stride=[H,W]")
    if any(s < 1 or s > c for s, c in zip(stride, crop_size)):
        raise ConfigError(
            f"test.stride={list(stride)} must lie in 1..test.crop_size={list(crop_size)} per axis, "
            "or windows would leave pixels unseen"
        )


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _slide(model: Callable[[Tensor], Tensor], images: Tensor, crop_size: Sequence[int], stride: Sequence[int]) -> Tensor:
    """Logits (B, K, H, W) averaged over overlapping crops; a side shorter than its crop is run whole."""
    height, width = images.shape[-2:]
    crop_h, crop_w = min(crop_size[0], height), min(crop_size[1], width)
    rows = _window_starts(height, crop_h, stride[0])
    cols = _window_starts(width, crop_w, stride[1])
    logits = count = None
    for top in rows:
        for left in cols:
            out = model(images[..., top : top + crop_h, left : left + crop_w])
            if logits is None:
                dtype = _accumulation_dtype(out.dtype)
                logits = out.new_zeros(out.shape[0], out.shape[1], height, width, dtype=dtype)
                count = out.new_zeros(1, 1, height, width, dtype=dtype)
            logits[..., top : top + crop_h, left : left + crop_w] += out
            count[..., top : top + crop_h, left : left + crop_w] += 1
    return logits / count


def _window_starts(length: int, crop: int, stride: int) -> list[int]:
    """Window offsets covering [0, length): every ``stride``, the last flush with the end."""
    steps = max(math.ceil((length - crop) / stride), 0) + 1
    return sorted({min(i * stride, length - crop) for i in range(steps)})
