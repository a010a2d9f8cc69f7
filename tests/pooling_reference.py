"""Slow float64 references for the pooling blocks, written from their formulas with explicit loops.

They read a block's parameters but compute everything themselves: convolutions as sums over kernel
taps, BatchNorm (eval mode) as the affine map of its running statistics, adaptive pooling as means
over PyTorch's bin boundaries, bilinear resizing (align_corners=False) from its sampling formula.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def conv(x: Tensor, layer: nn.Conv2d) -> Tensor:
    """Stride-1 convolution as a sum over kernel taps on the zero-padded input."""
    (kh, kw), (dh, dw), (ph, pw) = layer.kernel_size, layer.dilation, layer.padding
    height, width = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    out_h, out_w = height + 2 * ph - dh * (kh - 1), width + 2 * pw - dw * (kw - 1)
    out = torch.zeros(x.shape[0], layer.out_channels, out_h, out_w, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i * dh : i * dh + out_h, j * dw : j * dw + out_w]
            out = out + torch.einsum("oc,bchw->bohw", layer.weight[:, :, i, j], window)
    if layer.bias is not None:
        out = out + layer.bias[None, :, None, None]
    return out


def batch_norm(x: Tensor, layer: nn.BatchNorm2d) -> Tensor:
    """Eval-mode BatchNorm: (x - mean) / sqrt(var + eps) * weight + bias, per channel."""
    shape = (1, -1, 1, 1)
    scale = layer.weight.view(shape) / torch.sqrt(layer.running_var.view(shape) + layer.eps)
    return (x - layer.running_mean.view(shape)) * scale + layer.bias.view(shape)


def sequential(x: Tensor, layers: nn.Sequential) -> Tensor:
    """A chain of Conv2d / BatchNorm2d / ReLU layers."""
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            x = conv(x, layer)
        elif isinstance(layer, nn.BatchNorm2d):
            x = batch_norm(x, layer)
        elif isinstance(layer, nn.ReLU):
            x = torch.clamp(x, min=0)
        else:
            raise TypeError(f"no reference for {type(layer).__name__}")
    return x


def adaptive_avg_pool(x: Tensor, size: int) -> Tensor:
    """Bin (i, j) averages rows floor(i·H/n)..ceil((i+1)·H/n) and the same for columns."""
    height, width = x.shape[-2:]
    out = torch.zeros(*x.shape[:2], size, size, dtype=x.dtype)
    for i in range(size):
        r0, r1 = (i * height) // size, math.ceil((i + 1) * height / size)
        for j in range(size):
            c0, c1 = (j * width) // size, math.ceil((j + 1) * width / size)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(dim=(-2, -1))
    return out


def _source_taps(out_size: int, in_size: int) -> list[tuple[int, int, float]]:
    """For each output index: the two input indices and the weight of the second (half-pixel centres)."""
    taps = []
    for index in range(out_size):
        src = max((index + 0.5) * in_size / out_size - 0.5, 0.0)
        low = min(int(math.floor(src)), in_size - 1)
        taps.append((low, min(low + 1, in_size - 1), src - low))
    return taps


def bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize with align_corners=False."""
    rows, cols = _source_taps(size[0], x.shape[-2]), _source_taps(size[1], x.shape[-1])
    out = torch.zeros(*x.shape[:2], *size, dtype=x.dtype)
    for i, (r0, r1, wr) in enumerate(rows):
        for j, (c0, c1, wc) in enumerate(cols):
            top = (1 - wc) * x[:, :, r0, c0] + wc * x[:, :, r0, c1]
            bottom = (1 - wc) * x[:, :, r1, c0] + wc * x[:, :, r1, c1]
            out[:, :, i, j] = (1 - wr) * top + wr * bottom
    return out


def row_means(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, C, H, 1): the mean of each row (an H×1 strip)."""
    return torch.stack([x[:, :, i, :].mean(dim=-1) for i in range(x.shape[-2])], dim=-1)[..., None]


def column_means(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, C, 1, W): the mean of each column (a 1×W strip)."""
    return torch.stack([x[:, :, :, j].mean(dim=-1) for j in range(x.shape[-1])], dim=-1)[:, :, None, :]


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """float64, eval mode, random BatchNorm statistics and affine parameters (so BN is not identity)."""
    generator = torch.Generator().manual_seed(seed)
    module.double().eval()
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            shape = layer.running_mean.shape
            layer.running_mean.copy_(torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1)
            layer.running_var.copy_(torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5)
            layer.weight.data.copy_(torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5)
            layer.bias.data.copy_(torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1)
    return module
