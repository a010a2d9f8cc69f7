"""Pyramid pooling module, PPM (Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017).

For each bin count n: adaptive average pooling to n×n cells, a 1×1 conv + BN + ReLU, a bilinear
upsample back to H×W; the input and every branch are concatenated (as PSPNet and mmseg's ``PPM``,
BN in every branch, the global bin 1 included; training therefore needs batches of two or more, or
``global_norm=False``, which gives the 1×1 branch a biased conv without BN):

    out = concat(x, up(φ_1(pool_1(x))), up(φ_2(pool_2(x))), up(φ_3(pool_3(x))), up(φ_6(pool_6(x))))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU, in_layout_of, resize
from segfw.models.layout_mean import spatial_mean
from segfw.errors import ConfigError
from segfw.registry import NECKS


class PooledBranch(nn.Module):
    """Adaptive average pooling to ``size``, then ``transform``, then bilinear upsampling to H×W.

    (B, C, H, W) → pool → (B, C, size, size) → transform → (B, C', size, size) → (B, C', H, W).
    """

    def __init__(self, size: int, transform: nn.Module, align_corners: bool = False):
        super().__init__()
        self.size = size
        self.transform = transform
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> Tensor:
        pooled = spatial_mean(x, (2, 3)) if self.size == 1 else F.adaptive_avg_pool2d(x, self.size)
        return in_layout_of(resize(self.transform(pooled), x.shape[-2:], self.align_corners), x)


def pooled_projection(in_channels: int, out_channels: int, norm: bool = True) -> nn.Module:
    """1×1 conv + BN + ReLU for pooled features; without ``norm`` a biased 1×1 conv + ReLU.

    On a 1×1 map BN's statistics come from the batch alone and a batch of one cannot be
    normalised in training mode (PyTorch raises); ``norm=False`` trains with any batch size.
    """
    if norm:
        return ConvBNReLU(in_channels, out_channels, 1)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True))


@NECKS.register("ppm")
class PyramidPooling(nn.Module):
    """PPM: (B, C, H, W) → (B, C + len(bins) · channels, H, W).

    ``channels`` is the width of each pyramid branch (default C // len(bins), as in PSPNet; mmseg
    uses its head's ``channels``, 512).
    """

    def __init__(
        self,
        in_channels: int,
        bins: Sequence[int] = (1, 2, 3, 6),
        channels: int | None = None,
        global_norm: bool = True,
    ):
        super().__init__()
        bins = [int(b) for b in bins]
        if not bins or min(bins) < 1:
            raise ConfigError(f"ppm bins must be a non-empty list of positive integers, got {bins}")
        channels = channels or max(in_channels // len(bins), 1)
        self.branches = nn.ModuleList(
            PooledBranch(b, pooled_projection(in_channels, channels, b > 1 or global_norm)) for b in bins
        )
        self.out_channels = in_channels + len(bins) * channels

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, *(branch(x) for branch in self.branches)], dim=1)
