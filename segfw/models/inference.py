"""Test-time inference: whole image or sliding window, over scales and horizontal flips.

Every mode returns class probabilities (softmax; for one-channel binary models [1 - σ, σ]) at the
input size, averaged over scales and flips, as papers' multi-scale + flip protocol does. Sliding
windows average overlapping logits; the windows run through the model in batches of up to
``window_batch`` crops (several windows of the batch's B images per forward pass), not one window
at a time. Accumulation runs in at least float32 (float64 stays float64), also under bf16/fp16 autocast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from segfw.models.layers import resize
from segfw.errors import ConfigError

MODES = ("whole", "slide")
WINDOW_BATCH = 8  # slide mode: crops per forward pass (at least the B crops of one window)


def predict_probabilities(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    mode: str = "whole",
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    crop_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    window_batch: int = WINDOW_BATCH,
) -> Tensor:
    """Class probabilities (B, K, H, W) for images (B, 3, H, W).

    ``model(x)`` must return logits (B, K, h, w) at the size of x (B, 3, h, w). Each scale s
    resizes the images to (round(s·H), round(s·W)) (bilinear); ``flip`` adds the mirrored image,
    whose logits are mirrored back. ``mode="slide"`` runs crops of ``crop_size`` every ``stride``
    pixels (the last window flush with the border), n = max(1, ⌊window_batch / B⌋) windows per
    forward pass (``model`` sees (n·B, 3, crop_h, crop_w)), and averages overlapping logits. Logits are
    resized to (H, W), turned into probabilities, and the probabilities averaged.
    """
    _check_protocol(mode, scales, crop_size, stride, window_batch)
    height, width = images.shape[-2:]
    total = None
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = resize(images, size)
        for flipped in (False, True) if flip else (False,):
            x = scaled.flip(-1) if flipped else scaled
            logits = _slide(model, x, crop_size, stride, window_batch) if mode == "slide" else model(x)
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
                    stride: Sequence[int] | None, window_batch: int) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown test.mode '{mode}'; choose one of {', '.join(MODES)}")
    if not scales or any(s <= 0 for s in scales):
        raise ConfigError(f"test.scales={list(scales)} must be a non-empty list of positive factors, e.g. [1.0]")
    if mode != "slide":
        return
    if window_batch < 1:
        raise ConfigError(f"test.window_batch={window_batch} must be at least 1 (crops per forward pass)")
    if crop_size is None or stride is None or len(crop_size) != 2 or len(stride) != 2:
        raise ConfigError("test.mode=slide needs test.crop_size=[H,W] and test.stride=[H,W]")
    if any(s < 1 or s > c for s, c in zip(stride, crop_size)):
        raise ConfigError(
            f"test.stride={list(stride)} must lie in 1..test.crop_size={list(crop_size)} per axis, "
            "or windows would leave pixels unseen"
        )


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _slide(model: Callable[[Tensor], Tensor], images: Tensor, crop_size: Sequence[int], stride: Sequence[int],
           window_batch: int) -> Tensor:
    """Logits (B, K, H, W) averaged over overlapping crops; a side shorter than its crop is run whole.

    The crops of n = max(1, ⌊window_batch / B⌋) windows are stacked window-major into one
    (n·B, 3, crop_h, crop_w) batch per forward pass; their logits are added back window by window,
    in grid order.
    """
    batch, height, width = images.shape[0], *images.shape[-2:]
    crop_h, crop_w = min(crop_size[0], height), min(crop_size[1], width)
    windows = [(top, left) for top in _window_starts(height, crop_h, stride[0])
               for left in _window_starts(width, crop_w, stride[1])]
    per_pass = max(1, window_batch // batch)
    logits = count = None
    for first in range(0, len(windows), per_pass):
        chunk = windows[first : first + per_pass]
        crops = torch.cat([images[..., top : top + crop_h, left : left + crop_w] for top, left in chunk])
        out = model(crops)
        if logits is None:
            dtype = _accumulation_dtype(out.dtype)
            logits = out.new_zeros(batch, out.shape[1], height, width, dtype=dtype)
            count = out.new_zeros(1, 1, height, width, dtype=dtype)
        for index, (top, left) in enumerate(chunk):
            logits[..., top : top + crop_h, left : left + crop_w] += out[index * batch : (index + 1) * batch]
            count[..., top : top + crop_h, left : left + crop_w] += 1
    return logits / count


def _window_starts(length: int, crop: int, stride: int) -> list[int]:
    """Window offsets covering [0, length): every ``stride``, the last flush with the end."""
    steps = max(math.ceil((length - crop) / stride), 0) + 1
    return sorted({min(i * stride, length - crop) for i in range(steps)})
