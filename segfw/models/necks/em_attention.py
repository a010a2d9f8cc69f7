"""Expectation-maximisation attention (Li et al., "Expectation-Maximization Attention Networks for Semantic Segmentation", ICCV 2019)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS


@NECKS.register("em_attention")
class EMAttention(nn.Module):
    """EMANet's context module. ``forward(x (B, C, H, W)) -> (B, out_channels, H, W)``::

        f = CBR_3×3(x)                      C → e (``channels``; None: e = C)
        u = W u' + b of f                   1×1 conv e → e, frozen (as in the paper and mmseg)
        μ⁰ = the K bases (e, K), unit columns (a buffer, K = ``num_bases``)
        for t = 1 … T (``num_stages``), without gradient:
            z_nk = softmax_k(u_nᵀ μ_k)                  E step (N = H·W pixels)
            μ_k = normalize₂(Σ_n z_nk u_n / Σ_n z_nk)    M step
        r = relu(μ zᵀ)                       the reconstruction (B, e, H, W), z and μ of the last stage
        y = relu(f + BN(W_r r))              1×1 conv + BN, no activation before the sum
        y = CBR_3×3(y)                       e → out_channels (None: e)
        y = CBR_3×3(concat[x, y])            with ``fuse_input`` (mmseg's concat_input)

    Training mode also moves the bases towards this batch's: μ⁰ ← (1 − m) μ⁰ + m · normalize₂(mean_b μ_b)
    with m = ``momentum`` (a buffer update, not a gradient step). Cost O(T·N·K·e).
    """

    def __init__(self, in_channels: int, channels: int | None = None, out_channels: int | None = None,
                 num_bases: int = 64, num_stages: int = 3, momentum: float = 0.1, fuse_input: bool = True):
        super().__init__()
        channels = channels or in_channels
        out_channels = out_channels or channels
        self.num_stages, self.momentum = num_stages, momentum
        bases = torch.randn(1, channels, num_bases) * math.sqrt(2.0 / num_bases)
        self.register_buffer("bases", F.normalize(bases, dim=1))
        self.reduce = ConvBNReLU(in_channels, channels)
        self.mid = nn.Conv2d(channels, channels, 1)
        self.mid.requires_grad_(False)
        self.reconstruct = ConvBNReLU(channels, channels, kernel_size=1, relu=False)
        self.project = ConvBNReLU(channels, out_channels)
        self.fuse = ConvBNReLU(in_channels + out_channels, out_channels) if fuse_input else None
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        f = self.reduce(x)
        u = self.mid(f).flatten(2)  # (B, e, N)
        bases = self.bases.expand(u.shape[0], -1, -1)
        with torch.no_grad():
            for _ in range(self.num_stages):
                z = torch.softmax(torch.einsum("bcn,bck->bnk", u, bases), dim=2)
                bases = F.normalize(torch.einsum("bcn,bnk->bck", u, F.normalize(z, p=1, dim=1)), dim=1)
        r = torch.einsum("bck,bnk->bcn", bases, z).view_as(f)
        if self.training:
            with torch.no_grad():
                self.bases.mul_(1 - self.momentum).add_(self.momentum * F.normalize(bases.mean(0, keepdim=True), dim=1))
        y = self.project(torch.relu(f + self.reconstruct(torch.relu(r))))
        return y if self.fuse is None else self.fuse(torch.cat([x, y], dim=1))
