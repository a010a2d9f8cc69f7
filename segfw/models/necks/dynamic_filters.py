"""Dynamic multi-scale filters (He et al., "Dynamic Multi-scale Filters for Semantic Segmentation", ICCV 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS


class DynamicConvModule(nn.Module):
    """One DCM of DMNet with filter size k. ``forward(x (B, C, H, W)) -> (B, channels, H, W)``::

        w = W_g pool_k(x)                  (B, c, k, k): one k×k filter per image and channel (W_g: 1×1 conv C → c)
        f = CBR_1×1(x)                     C → c
        y_bc = f_bc ⋆ w_bc                 depthwise cross-correlation, zero padding ⌊(k−1)/2⌋ (even k: one
                                           more row/column at the top/left), H × W kept
        y = relu(BN(y)), then CBR_1×1(y) with ``fusion``

    As mmseg's ``DCM``.
    """

    def __init__(self, in_channels: int, channels: int, filter_size: int, fusion: bool = False):
        super().__init__()
        self.filter_size = filter_size
        self.filter_gen = nn.Conv2d(in_channels, channels, 1)
        self.reduce = ConvBNReLU(in_channels, channels, kernel_size=1)
        self.norm = nn.BatchNorm2d(channels)
        self.fusion = ConvBNReLU(channels, channels, kernel_size=1) if fusion else None

    def forward(self, x: Tensor) -> Tensor:
        k = self.filter_size
        filters = self.filter_gen(F.adaptive_avg_pool2d(x, k))  # (B, c, k, k)
        f = self.reduce(x)
        b, c, h, w = f.shape
        pad = (k - 1) // 2
        extra = (k - 1) % 2
        f = F.pad(f.reshape(1, b * c, h, w), (pad + extra, pad, pad + extra, pad))
        y = F.conv2d(f, filters.reshape(b * c, 1, k, k), groups=b * c).view(b, c, h, w)
        y = torch.relu(self.norm(y))
        return y if self.fusion is None else self.fusion(y)


@NECKS.register("dynamic_filters")
class DynamicFilters(nn.Module):
    """DMNet's context module: (B, C, H, W) → (B, C + len(filter_sizes) · channels, H, W),
    out = concat(x, DCM_k1(x), DCM_k2(x), …) (:class:`DynamicConvModule`, one per filter size).

    As mmseg's ``DMHead`` without its 3×3 bottleneck (the ``fcn`` head's one conv, as for ``ppm``).
    Cost O(H·W·c·(C + k²)) per filter size.
    """

    def __init__(self, in_channels: int, channels: int | None = None, filter_sizes: Sequence[int] = (1, 3, 5, 7),
                 fusion: bool = False):
        super().__init__()
        sizes = [int(k) for k in filter_sizes]
        if not sizes or min(sizes) < 1:
            raise ConfigError(f"dynamic_filters filter_sizes must be a non-empty list of positive integers, got {sizes}")
        channels = channels or max(in_channels // len(sizes), 1)
        self.dcms = nn.ModuleList(DynamicConvModule(in_channels, channels, k, fusion) for k in sizes)
        self.out_channels = in_channels + len(sizes) * channels

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, *(dcm(x) for dcm in self.dcms)], dim=1)
