"""Strip attention: every pixel attends to the horizontal and vertical strips of its feature map."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segfw.models.attention import Attention, reduced_channels
from segfw.models.attention.strip_positions import StripPositions
from segfw.models.layout_mean import spatial_mean
from segfw.registry import NECKS


def strips(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, H + W, C): the H horizontal strips (mean over W), then the W vertical ones (mean over H)."""
    return torch.cat([spatial_mean(x, (3,)).squeeze(3), spatial_mean(x, (2,)).squeeze(2)], dim=2).transpose(1, 2)


@NECKS.register("strip_attention")
class StripAttention(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``.

    q = W_q x read as (B, H·W, d) (1×1 conv), k = W_k s and v = W_v s with s = strips(x)
    (B, H+W, C) (linear maps), d = C / reduction; y = x + γ · W_o Attention(q, k, v) with W_o a 1×1
    conv d → C and γ a learnable scalar starting at 0. Any score / normaliser of the attention core.
    ``position`` (none | sinusoidal | learned) adds :class:`StripPositions` terms to q and k, so a
    pixel can tell its own row and column strips from the others (without them the keys are an
    unordered set: a spatially constant map gives every pixel the same output).
    Cost O(H·W·(H+W)·d) instead of the non-local block's O((H·W)²·d).
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 4,
        score: str = "scaled_dot",
        normalize: str = "softmax",
        heads: int = 1,
        position: str = "sinusoidal",
    ):
        super().__init__()
        dim = reduced_channels(in_channels, reduction, heads)
        self.query = nn.Conv2d(in_channels, dim, 1)
        self.key = nn.Linear(in_channels, dim)
        self.value = nn.Linear(in_channels, dim)
        self.attention = Attention(dim, score, normalize, heads)
        self.project = nn.Conv2d(dim, in_channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.positions = None if position == "none" else StripPositions(dim, heads, position)

    def forward(self, x: Tensor) -> Tensor:
        s = strips(x)
        query, key = self.query(x).flatten(2).transpose(1, 2), self.key(s)
        if self.positions is not None:
            query_pos, key_pos = self.positions(*x.shape[-2:], like=query)
            query, key = query + query_pos, key + key_pos
        out = self.attention(query, key, self.value(s))  # (B, H·W, d)
        out = out.transpose(1, 2).unflatten(2, x.shape[-2:])
        return x + self.gamma * self.project(out)
