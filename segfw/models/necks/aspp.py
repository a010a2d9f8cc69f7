"""Atrous spatial pyramid pooling, ASPP (Chen et al., "Rethinking Atrous Convolution", DeepLabV3, 2017).

Five parallel branches on the same input, concatenated and projected:

    b_0 = CBR_1×1(x)
    b_k = CBR_3×3,dilation=r_k(x)            k = 1..3, rates r = (6, 12, 18) at output stride 16
    b_4 = broadcast(ReLU(conv_1×1(mean_{i,j} x)))     image pooling
    out = CBR_1×1(concat(b_0, ..., b_4))

The rates scale with the output stride (doubled at 8, halved at 32). The image-pooling branch has
no BatchNorm: on a 1×1 map a batch of one cannot be normalised in training mode (see
:func:`pooled_projection`); it uses a biased conv instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU
from segfw.models.necks.ppm import PooledBranch, pooled_projection
from segfw.registry import NECKS, ConfigError

_RATES_AT_STRIDE_16 = (6, 12, 18)


def atrous_rates(output_stride: int) -> tuple[int, ...]:
    """DeepLabV3 rates for an output stride: (12, 24, 36) at 8, (6, 12, 18) at 16, (3, 6, 9) at 32."""
    if output_stride not in (8, 16, 32):
        raise ConfigError(f"aspp output_stride={output_stride} is not supported; use 8, 16 or 32 (or give rates)")
    return tuple(rate * 16 // output_stride for rate in _RATES_AT_STRIDE_16)


@NECKS.register("aspp")
class ASPP(nn.Module):
    """ASPP: (B, C, H, W) → (B, channels, H, W).

    ``rates`` (dilations of the 3×3 branches) default to :func:`atrous_rates` of ``output_stride``,
    which must then match the stride of the features (the backbone's output stride for c5).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 256,
        output_stride: int = 8,
        rates: Sequence[int] | None = None,
    ):
        super().__init__()
        rates = tuple(int(r) for r in rates) if rates else atrous_rates(output_stride)
        self.out_channels = channels
        self.branches = nn.ModuleList(
            [
                ConvBNReLU(in_channels, channels, 1),
                *(ConvBNReLU(in_channels, channels, 3, dilation=rate) for rate in rates),
                PooledBranch(1, pooled_projection(in_channels, channels, 1)),
            ]
        )
        self.project = ConvBNReLU(len(self.branches) * channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
