"""Attention between two maps through stacked 1×1 projections: mmseg's ``SelfAttentionBlock`` (ISA, OCR)."""

from __future__ import annotations

from torch import Tensor, nn

from segfw.models.attention.core import Attention
from segfw.models.layers import ConvBNReLU


def pointwise_stack(in_channels: int, channels: int, depth: int) -> nn.Sequential:
    """``depth`` 1×1 ConvBNReLU, the first ``in_channels → channels``, the others ``channels → channels``."""
    widths = [in_channels] + [channels] * depth
    return nn.Sequential(*(ConvBNReLU(a, b, kernel_size=1) for a, b in zip(widths, widths[1:])))


class ProjectedAttention(nn.Module):
    """Each query pixel attends to every key pixel, through learned projections.

    ``forward(query (B, C, Hq, Wq), key (B, C, Hk, Wk)) -> (B, out_channels, Hq, Wq)``::

        q = φ_q(query), k = φ_k(key)        each two 1×1 ConvBNReLU C → d → d
        v = ψ(key)                           1×1 conv C → out_channels (plain, with bias), or with
                                             ``projected_values``: 1×1 ConvBNReLU C → d
        y = softmax(q kᵀ / √d) v             over the Hk·Wk keys
        y = ρ(y)                             with ``projected_values`` only: 1×1 ConvBNReLU d → out_channels

    Plain values are mmseg's ``SelfAttentionBlock(key_query_num_convs=2, matmul_norm=True,
    with_out=False)`` of ISANet; projected values its ``value_out_norm=True, with_out=True`` of OCRNet.
    Cost O(Hq·Wq·Hk·Wk·d).
    """

    def __init__(self, in_channels: int, channels: int, out_channels: int, projected_values: bool = False):
        super().__init__()
        self.query = pointwise_stack(in_channels, channels, 2)
        self.key = pointwise_stack(in_channels, channels, 2)
        if projected_values:
            self.value = ConvBNReLU(in_channels, channels, kernel_size=1)
            self.out = ConvBNReLU(channels, out_channels, kernel_size=1)
        else:
            self.value = nn.Conv2d(in_channels, out_channels, 1)
            self.out = nn.Identity()
        self.attention = Attention(channels, "scaled_dot", "softmax")

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        def pixels(t: Tensor) -> Tensor:
            return t.flatten(2).transpose(1, 2)

        y = self.attention(pixels(self.query(query)), pixels(self.key(key)), pixels(self.value(key)))
        return self.out(y.transpose(1, 2).unflatten(2, query.shape[-2:]))
