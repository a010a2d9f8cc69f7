"""Test-time inference: whole image or sliding window, over scales and horizontal flips.

Every mode returns class probabilities (softmax) at the input size, averaged over scales and
flips, as papers' multi-scale + flip protocol does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor

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

    ``model(x)`` must return logits at the size of x. ``mode="slide"`` runs crops of
    ``crop_size`` every ``stride`` pixels and averages overlapping logits.
    """
    if mode not in MODES:
        raise ValueError(f"unknown test.mode '{mode}'; choose one of {', '.join(MODES)}")
    if mode == "slide" and (crop_size is None or stride is None):
        raise ValueError("test.mode=slide needs test.crop_size=[H,W] and test.stride=[H,W]")
    height, width = images.shape[-2:]
    total = None
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = images if size == (height, width) else F.interpolate(images, size, mode="bilinear", align_corners=False)
        for flipped in (False, True) if flip else (False,):
            x = scaled.flip(-1) if flipped else scaled
            logits = _slide(model, x, crop_size, stride) if mode == "slide" else model(x)
            if flipped:
                logits = logits.flip(-1)
            logits = F.interpolate(logits, (height, width), mode="bilinear", align_corners=False)
            probs = logits.float().softmax(dim=1)
            total = probs if total is None else total + probs
    return total / (len(scales) * (2 if flip else 1))


def _slide(model: Callable[[Tensor], Tensor], images: Tensor, crop_size: Sequence[int], stride: Sequence[int]) -> Tensor:
    """Logits (B, K, H, W) from overlapping crops; images smaller than a crop are run whole."""
    height, width = images.shape[-2:]
    crop_h, crop_w = min(crop_size[0], height), min(crop_size[1], width)
    rows = _window_starts(height, crop_h, stride[0])
    cols = _window_starts(width, crop_w, stride[1])
    logits = count = None
    for top in rows:
        for left in cols:
            out = model(images[..., top : top + crop_h, left : left + crop_w])
            if logits is None:
                logits = out.new_zeros(out.shape[0], out.shape[1], height, width)
                count = out.new_zeros(1, 1, height, width)
            logits[..., top : top + crop_h, left : left + crop_w] += out
            count[..., top : top + crop_h, left : left + crop_w] += 1
    return logits / count


def _window_starts(length: int, crop: int, stride: int) -> list[int]:
    """Window offsets covering [0, length): every ``stride``, the last flush with the end."""
    steps = max(math.ceil((length - crop) / stride), 0) + 1
    return sorted({min(i * stride, length - crop) for i in range(steps)})
