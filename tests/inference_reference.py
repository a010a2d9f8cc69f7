"""Slow, direct references for the inference modes: a position-dependent toy model, mmsegmentation's
slide grid, and float64 whole / slide / multi-scale + flip probabilities (tests/apis/test_inference_modes.py,
tests/engine/test_fast_defaults.py)."""

from __future__ import annotations

import pooling_reference as ref
import torch
from torch import Tensor, nn

from segfw.models.inference import predict_probabilities


class PositionalToy(nn.Module):
    """Logits (B, K, h, w) that depend on the crop: pixel value, row/column inside the crop, crop mean.

    So a window's logits at a pixel differ from another window's (slide overlaps matter), the
    model is not mirror-symmetric (an un-undone flip shows) and not scale-invariant.
    """

    def __init__(self, num_classes: int = 3):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weights = nn.Parameter(torch.randn(num_classes, 5, generator=generator, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        rows = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w) / 7
        cols = torch.arange(w, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w) / 5
        mean = x.mean(dim=(1, 2, 3), keepdim=True).expand(b, 1, h, w)
        features = torch.cat([x[:, :1], x[:, 1:2] ** 2, rows, cols, mean], dim=1)  # (B, 5, h, w)
        return torch.einsum("kf,bfhw->bkhw", self.weights, features)


def reference_windows(length: int, crop: int, stride: int) -> list[tuple[int, int]]:
    """mmsegmentation's slide grid: (start, end) per window, the last one moved back to the border."""
    crop = min(crop, length)
    count = max(length - crop + stride - 1, 0) // stride + 1
    windows = []
    for index in range(count):
        end = min(index * stride + crop, length)
        windows.append((max(end - crop, 0), end))
    return windows


def reference_slide(model, x: Tensor, crop: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    b, _, height, width = x.shape
    sums, counts = None, torch.zeros(height, width, dtype=torch.float64)
    for r0, r1 in reference_windows(height, crop[0], stride[0]):
        for c0, c1 in reference_windows(width, crop[1], stride[1]):
            out = model(x[:, :, r0:r1, c0:c1])
            if sums is None:
                sums = torch.zeros(b, out.shape[1], height, width, dtype=torch.float64)
            sums[:, :, r0:r1, c0:c1] += out
            counts[r0:r1, c0:c1] += 1
    assert (counts > 0).all()
    return sums / counts


def reference_probabilities(model, x: Tensor, mode="whole", scales=(1.0,), flip=False, crop=None, stride=None) -> Tensor:
    height, width = x.shape[-2:]
    views = []
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = ref.bilinear(x, size) if size != (height, width) else x
        for mirrored in (False, True) if flip else (False,):
            view = torch.flip(scaled, dims=[3]) if mirrored else scaled
            logits = reference_slide(model, view, crop, stride) if mode == "slide" else model(view)
            if mirrored:
                logits = torch.flip(logits, dims=[3])
            logits = ref.bilinear(logits, (height, width)) if logits.shape[-2:] != (height, width) else logits
            exp = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
            views.append(exp / exp.sum(dim=1, keepdim=True))
    return sum(views) / len(views)


def check(model, images, **protocol):
    with torch.no_grad():
        got = predict_probabilities(model, images, **protocol)
        want = reference_probabilities(
            model, images, protocol.get("mode", "whole"), protocol.get("scales", (1.0,)), protocol.get("flip", False),
            protocol.get("crop_size"), protocol.get("stride"),
        )
    assert got.dtype == torch.float64 and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    return got
