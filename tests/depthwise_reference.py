"""Slow float64 references for grouped (depthwise) convolutions and GELU, written from their formulas.

The modules under test are read for their parameters only; the arithmetic is spelled out here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def grouped_conv(x: Tensor, layer: nn.Conv2d) -> Tensor:
    """Stride-1 grouped convolution as a sum over kernel taps of the zero-padded input, group by group:
    out[o, y, x] = b[o] + Σ_{c in o's group} Σ_{i,j} W[o, c, i, j] · x_pad[c, y + i·d_h, x + j·d_w]."""
    (kh, kw), (dh, dw), (ph, pw) = layer.kernel_size, layer.dilation, layer.padding
    groups, height, width = layer.groups, *x.shape[-2:]
    padded = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    out_h, out_w = height + 2 * ph - dh * (kh - 1), width + 2 * pw - dw * (kw - 1)
    c_in, c_out = layer.in_channels // groups, layer.out_channels // groups
    out = torch.zeros(x.shape[0], layer.out_channels, out_h, out_w, dtype=x.dtype)
    for g in range(groups):
        weight = layer.weight[g * c_out : (g + 1) * c_out]  # (c_out, c_in, kh, kw)
        for i in range(kh):
            for j in range(kw):
                window = padded[:, g * c_in : (g + 1) * c_in, i * dh : i * dh + out_h, j * dw : j * dw + out_w]
                out[:, g * c_out : (g + 1) * c_out] += torch.einsum("oc,bchw->bohw", weight[:, :, i, j], window)
    if layer.bias is not None:
        out = out + layer.bias[None, :, None, None]
    return out


def gelu(x: Tensor) -> Tensor:
    """x · Φ(x), Φ the standard normal CDF (the exact GELU, PyTorch's default)."""
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def sigmoid(x: Tensor) -> Tensor:
    return 1 / (1 + torch.exp(-x))
