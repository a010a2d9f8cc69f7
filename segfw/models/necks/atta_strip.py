"""AttaNet's strip attention module, SAM (Song, Mei, Huang, "AttaNet", AAAI 2021)."""

from __future__ import annotations

from torch import Tensor, nn

from segfw.models.attention import Attention
from segfw.models.layers import ConvBNReLU
from segfw.models.layout_mean import spatial_mean
from segfw.registry import NECKS


@NECKS.register("atta_strip")
class AttaStrip(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``: each pixel gathers the W column strips of the map::

        q_j = (1/H) Σ_i CBR_1×1(x)[:, i, j]        (B, W, m)    one query per column strip
        k_p = CBR_1×1(x)[:, p]                     (B, H·W, m)  one key per pixel p
        v_j = (1/H) Σ_i CBR_1×1(x)[:, i, j]        (B, W, C)    column strips of a C-wide map
        A[j, p] = softmax_j(q_jᵀ k_p)              normalised over the W strips, for each pixel
        y_p = x_p + Σ_j A[j, p] v_j

    m = ``key_channels`` (64 in the paper). In the attention core's terms the pixels are the queries
    and the strips the keys (``score`` dot and ``normalize`` softmax give the paper's module). Only
    columns are gathered (the paper's vertical strips), so the module is not symmetric in H and W.
    Cost O(H·W·C·(m + C) + H·W·W·(m + C)).
    """

    def __init__(self, in_channels: int, key_channels: int = 64, score: str = "dot", normalize: str = "softmax"):
        super().__init__()
        self.query = ConvBNReLU(in_channels, key_channels, 1)
        self.key = ConvBNReLU(in_channels, key_channels, 1)
        self.value = ConvBNReLU(in_channels, in_channels, 1)
        self.attention = Attention(key_channels, score, normalize)

    def forward(self, x: Tensor) -> Tensor:
        strips = spatial_mean(self.query(x), (2,)).squeeze(2).transpose(1, 2)  # (B, W, m)
        values = spatial_mean(self.value(x), (2,)).squeeze(2).transpose(1, 2)  # (B, W, C)
        pixels = self.key(x).flatten(2).transpose(1, 2)  # (B, H·W, m)
        out = self.attention(pixels, strips, values)  # (B, H·W, C)
        return x + out.transpose(1, 2).unflatten(2, x.shape[-2:])
