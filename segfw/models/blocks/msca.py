"""SegNeXt's multi-scale convolutional attention (Guo et al., NeurIPS 2022), the block MSCAN stacks and the ``msca`` neck wraps."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

KERNEL_SIZES = (5, 7, 11, 21)  # the k×k local depthwise conv, then one 1×k → k×1 strip pair per branch


def strip_pair(channels: int, length: int) -> nn.Sequential:
    """Depthwise 1×length then length×1 conv (zero "same" padding, with biases): a length×length window with
    2·length weights per channel. (B, C, H, W) → (B, C, H, W)."""
    pad = length // 2
    return nn.Sequential(
        nn.Conv2d(channels, channels, (1, length), padding=(0, pad), groups=channels),
        nn.Conv2d(channels, channels, (length, 1), padding=(pad, 0), groups=channels),
    )


class MultiScaleConvAttention(nn.Module):
    """MSCA, the attention map and its gating. ``forward(u (B, C, H, W)) -> (B, C, H, W)``::

        a0 = DW_{5×5}(u)
        a  = W_mix(a0 + Σ_k V_k(H_k(a0)))      k ∈ {7, 11, 21}: H_k a depthwise 1×k conv, V_k a depthwise k×1
        y  = a ⊙ u                              W_mix a 1×1 conv C → C; every conv has a bias

    The gate reads a 25×25 window around each position (the 5×5 window widened by the 21-long strips) at a
    cost of O(H·W·C·(C + 25 + 2·(7 + 11 + 21))). ``kernel_sizes`` = (local, strip lengths …): the
    published (5, 7, 11, 21). Not symmetric under transposing the map: the strip pairs run rows first.
    """

    def __init__(self, channels: int, kernel_sizes: Sequence[int] = KERNEL_SIZES):
        super().__init__()
        local, *strips = kernel_sizes
        self.local = nn.Conv2d(channels, channels, local, padding=local // 2, groups=channels)
        self.branches = nn.ModuleList(strip_pair(channels, k) for k in strips)
        self.mix = nn.Conv2d(channels, channels, 1)

    def forward(self, u: Tensor) -> Tensor:
        a = self.local(u)
        total = a
        for branch in self.branches:
            total = total + branch(a)
        return self.mix(total) * u


class MSCASpatialAttention(nn.Module):
    """SegNeXt's attention sub-layer. ``forward(x (B, C, H, W)) -> (B, C, H, W)``:
    ``y = x + W_out(MSCA(GELU(W_in x)))`` with W_in, W_out 1×1 convs C → C (with bias) and MSCA
    :class:`MultiScaleConvAttention`."""

    def __init__(self, channels: int, kernel_sizes: Sequence[int] = KERNEL_SIZES):
        super().__init__()
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.gate = MultiScaleConvAttention(channels, kernel_sizes)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.proj_out(self.gate(F.gelu(self.proj_in(x))))
