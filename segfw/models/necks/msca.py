"""SegNeXt's multi-scale convolutional attention (Guo et al., NeurIPS 2022) as a context module."""

from __future__ import annotations

from collections.abc import Sequence

from segfw.errors import ConfigError
from segfw.models.blocks.msca import KERNEL_SIZES, MSCASpatialAttention
from segfw.registry import NECKS


@NECKS.register("msca")
class MSCA(MSCASpatialAttention):
    """SegNeXt's attention sub-layer (its official ``SpatialAttention``) after the backbone.
    ``forward(x (B, C, H, W)) -> (B, C, H, W)``::

        u  = GELU(W_in x)                              W_in, W_mix, W_out: 1×1 convs C → C (bias)
        a0 = DW_{5×5}(u)
        a  = W_mix(a0 + Σ_k V_k(H_k(a0)))             k ∈ {7, 11, 21}: depthwise 1×k then k×1, zero "same" padding
        y  = x + W_out(a ⊙ u)

    ``kernel_sizes``: (local k×k, strip lengths …), odd; the published (5, 7, 11, 21). A 25×25 window for
    O(H·W·C·(3C + 103)) (linear in H·W). The same block as inside MSCAN (:mod:`segfw.models.blocks.msca`).
    Transposing the map: the module with its kernels transposed (the k×k window transposed, each 1×k and k×1 pair
    swapped) maps xᵀ to yᵀ exactly when the first conv of each pair has no bias (that bias, filtered by the second,
    zero-padded conv, varies near the borders of one axis only); with its own kernels it does not.
    """

    def __init__(self, in_channels: int, kernel_sizes: Sequence[int] = KERNEL_SIZES):
        sizes = list(kernel_sizes)
        if len(sizes) < 1 or any(k < 1 or k % 2 == 0 for k in sizes):
            raise ConfigError(f"msca: kernel_sizes {sizes} must be odd lengths (local window, then strips), e.g. [5, 7, 11, 21]")
        super().__init__(in_channels, sizes)
