"""Self-attention over all pixels of a map, the shared core of the non-local block and DANet's PAM."""

from __future__ import annotations

from torch import Tensor, nn

from segfw.models.attention.core import Attention


class PixelSelfAttention(nn.Module):
    """Every pixel attends to every pixel of the same map.

    ``forward(x (B, C, H, W)) -> (B, value_channels, H, W)``: q = W_q x, k = W_k x (1×1 convs to
    ``key_channels``), v = W_v x (1×1 conv to ``value_channels``), all read as (B, H·W, c);
    out = Attention(q, k, v). Cost O((H·W)²·(key_channels + value_channels)).
    """

    def __init__(
        self,
        in_channels: int,
        key_channels: int,
        value_channels: int,
        score: str = "dot",
        normalize: str = "softmax",
        heads: int = 1,
    ):
        super().__init__()
        self.query = nn.Conv2d(in_channels, key_channels, 1)
        self.key = nn.Conv2d(in_channels, key_channels, 1)
        self.value = nn.Conv2d(in_channels, value_channels, 1)
        self.attention = Attention(key_channels, score, normalize, heads)

    def forward(self, x: Tensor) -> Tensor:
        def pixels(t: Tensor) -> Tensor:
            return t.flatten(2).transpose(1, 2)

        out = self.attention(pixels(self.query(x)), pixels(self.key(x)), pixels(self.value(x)))
        return out.transpose(1, 2).unflatten(2, x.shape[-2:])
