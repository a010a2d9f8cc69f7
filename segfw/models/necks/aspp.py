"""Atrous spatial pyramid pooling, ASPP (Chen et al., "Rethinking Atrous Convolution", DeepLabV3, 2017).

Five parallel branches on the same input, concatenated and (optionally) projected:

    b_0 = CBR_1×1(x)
    b_k = CBR_3×3,dilation=r_k(x)            k = 1..3, rates r = (6, 12, 18) at output stride 16
    b_4 = broadcast(CBR_1×1(mean_{i,j} x))   image pooling (BN included, as torchvision and mmseg)
    out = CBR_k×k(concat(b_0, ..., b_4))     k = projection_kernel (1: the paper, torchvision; 3: mmseg's
                                             "bottleneck"; 0: no projection, the concatenation itself)

The rates scale with the output stride (doubled at 8, halved at 32). ``image_pool_first`` puts b_4
first in the concatenation (mmseg's order); ``separable`` makes the dilated branches depthwise-separable
(mmseg's DeepLabV3+ ``DepthwiseSeparableASPPModule``). With BN in the image-pooling branch, training
needs batches of two or more; ``global_norm=False`` replaces it by a biased conv (any batch size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU, SeparableConvBNReLU
from segfw.models.necks.ppm import PooledBranch, pooled_projection
from segfw.errors import ConfigError
from segfw.registry import NECKS

_RATES_AT_STRIDE_16 = (6, 12, 18)


def atrous_rates(output_stride: int) -> tuple[int, ...]:
    """DeepLabV3 rates for an output stride: (12, 24, 36) at 8, (6, 12, 18) at 16, (3, 6, 9) at 32."""
    if output_stride not in (8, 16, 32):
        raise ConfigError(f"aspp output_stride={output_stride} is not supported; use 8, 16 or 32 (or give rates)")
    return tuple(rate * 16 // output_stride for rate in _RATES_AT_STRIDE_16)


@NECKS.register("aspp")
class ASPP(nn.Module):
    """ASPP: (B, C, H, W) → (B, channels, H, W), or (B, 5·channels, H, W) when ``projection_kernel=0``.

    ``rates`` (dilations of the 3×3 branches) default to :func:`atrous_rates` of ``output_stride``,
    which must then match the stride of the features (the backbone's output stride for c5).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 256,
        output_stride: int = 8,
        rates: Sequence[int] | None = None,
        projection_kernel: int = 1,
        image_pool_first: bool = False,
        separable: bool = False,
        global_norm: bool = True,
    ):
        super().__init__()
        if projection_kernel not in (0, 1, 3):
            raise ConfigError(f"aspp projection_kernel must be 0 (none), 1 or 3, got {projection_kernel}")
        rates = tuple(int(r) for r in rates) if rates else atrous_rates(output_stride)
        atrous = SeparableConvBNReLU if separable else (lambda i, o, d: ConvBNReLU(i, o, 3, dilation=d))
        pool = PooledBranch(1, pooled_projection(in_channels, channels, global_norm))
        branches = [ConvBNReLU(in_channels, channels, 1), *(atrous(in_channels, channels, r) for r in rates)]
        self.branches = nn.ModuleList([pool, *branches] if image_pool_first else [*branches, pool])
        concat = len(self.branches) * channels
        self.project = ConvBNReLU(concat, channels, projection_kernel) if projection_kernel else nn.Identity()
        self.out_channels = channels if projection_kernel else concat

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
