"""Adaptive pyramid context (He et al., "Adaptive Pyramid Context Network for Semantic Segmentation", CVPR 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS


class AdaptiveContextModule(nn.Module):
    """One ACM of APCNet at pooling scale s. ``forward(x (B, C, H, W)) -> (B, channels, H, W)``::

        p = CBR_1×1(pool_s(x))                   s×s region features, C → c, read as (B, s², c)
        f = CBR_1×1(x)                           C → c
        a = σ(W_a(f + CBR_1×1(mean_hw f)))       per-pixel affinities to the s² regions (W_a: 1×1 conv c → s²)
        z = relu(CBR_1×1(a p) + f)               a p: (B, H·W, c), each pixel's adaptive context
        z = CBR_1×1(z)                           with ``fusion``

    As mmseg's ``ACM``; the global vector is broadcast (mmseg resizes the 1×1 map bilinearly: the same values).
    """

    def __init__(self, in_channels: int, channels: int, scale: int, fusion: bool = True):
        super().__init__()
        self.scale = scale
        self.pooled_reduce = ConvBNReLU(in_channels, channels, kernel_size=1)
        self.reduce = ConvBNReLU(in_channels, channels, kernel_size=1)
        self.global_info = ConvBNReLU(channels, channels, kernel_size=1)
        self.affinity = nn.Conv2d(channels, scale * scale, 1)
        self.residual = ConvBNReLU(channels, channels, kernel_size=1)
        self.fusion = ConvBNReLU(channels, channels, kernel_size=1) if fusion else None

    def forward(self, x: Tensor) -> Tensor:
        regions = self.pooled_reduce(F.adaptive_avg_pool2d(x, self.scale)).flatten(2)  # (B, c, s²)
        f = self.reduce(x)
        glob = self.global_info(f.mean(dim=(2, 3), keepdim=True))
        affinity = torch.sigmoid(self.affinity(f + glob)).flatten(2)  # (B, s², N)
        z = (regions @ affinity).view_as(f)
        z = torch.relu(self.residual(z) + f)
        return z if self.fusion is None else self.fusion(z)


@NECKS.register("adaptive_context")
class AdaptiveContext(nn.Module):
    """APCNet's context module: (B, C, H, W) → (B, C + len(scales) · channels, H, W),
    out = concat(x, ACM_s1(x), ACM_s2(x), …) (:class:`AdaptiveContextModule`, one per scale).

    As mmseg's ``APCHead`` without its 3×3 bottleneck (the ``fcn`` head's one conv, as for ``ppm``).
    Cost O(H·W·C·c·len(scales)) for the 1×1 convs plus O(H·W·s²·c) per scale.
    """

    def __init__(self, in_channels: int, channels: int | None = None, scales: Sequence[int] = (1, 2, 3, 6),
                 fusion: bool = True):
        super().__init__()
        scales = [int(s) for s in scales]
        if not scales or min(scales) < 1:
            raise ConfigError(f"adaptive_context scales must be a non-empty list of positive integers, got {scales}")
        channels = channels or max(in_channels // len(scales), 1)
        self.acms = nn.ModuleList(AdaptiveContextModule(in_channels, channels, s, fusion) for s in scales)
        self.out_channels = in_channels + len(scales) * channels

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, *(acm(x) for acm in self.acms)], dim=1)
