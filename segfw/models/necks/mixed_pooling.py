"""Mixed pooling module, MPM (Hou et al., "Strip Pooling", CVPR 2020, Fig. 4).

The official code calls this block ``StripPooling`` (models/customize.py); its structure is kept:

    s = ReLU(BN(conv_1×1(x)))                         short-range path, C/r channels
    l = ReLU(BN(conv_1×1(x)))                         long-range path,  C/r channels
    short = CBR_3×3(ReLU(BN(conv_3×3(s)) + Σ_p up(BN(conv_3×3(pool_p×p(s))))))   p ∈ pool_sizes
    long  = CBR_3×3(ReLU(strip_H(l) + strip_W(l)))   strips as in :class:`StripBranch`
    out = ReLU(x + BN(conv_1×1(concat(short, long))))

The pooled maps are upsampled bilinearly with the model's ``align_corners`` (the SPNet presets set
True, as the official code does; False elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segfw.models.blocks.strip_pooling import StripBranch
from segfw.models.layers import ConvBNReLU
from segfw.models.necks.ppm import PooledBranch
from segfw.errors import ConfigError
from segfw.registry import NECKS


@NECKS.register("mixed_pooling")
class MixedPooling(nn.Module):
    """MPM: (B, C, H, W) → (B, C, H, W), residual.

    ``pool_sizes``: output sizes of the square adaptive pools of the short-range path ((20, 12) in
    the paper); ``reduction``: the two paths work on C // reduction channels.
    """

    def __init__(self, in_channels: int, pool_sizes: Sequence[int] = (20, 12), reduction: int = 4):
        super().__init__()
        if reduction < 1 or in_channels // reduction < 1:
            raise ConfigError(f"mixed_pooling reduction={reduction} leaves no channels of in_channels={in_channels}")
        if any(int(size) < 1 for size in pool_sizes):
            raise ConfigError(f"mixed_pooling pool_sizes must be positive integers, got {list(pool_sizes)}")
        mid = in_channels // reduction
        self.out_channels = in_channels
        self.reduce_short = ConvBNReLU(in_channels, mid, 1)
        self.reduce_long = ConvBNReLU(in_channels, mid, 1)
        self.local = ConvBNReLU(mid, mid, 3, relu=False)
        self.pyramid = nn.ModuleList(
            PooledBranch(int(size), ConvBNReLU(mid, mid, 3, relu=False)) for size in pool_sizes
        )
        self.strips = nn.ModuleList([StripBranch(mid, mid, "height"), StripBranch(mid, mid, "width")])
        self.fuse_short = ConvBNReLU(mid, mid, 3)
        self.fuse_long = ConvBNReLU(mid, mid, 3)
        self.project = ConvBNReLU(2 * mid, in_channels, 1, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        short_in, long_in = self.reduce_short(x), self.reduce_long(x)
        short = self.local(short_in)
        for branch in self.pyramid:
            short = short + branch(short_in)
        long = self.strips[0](long_in) + self.strips[1](long_in)
        fused = torch.cat([self.fuse_short(torch.relu(short)), self.fuse_long(torch.relu(long))], dim=1)
        return torch.relu(x + self.project(fused))
