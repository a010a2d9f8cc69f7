"""Strip attention: every pixel attends to the horizontal and vertical strips of its feature map."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segfw.models.attention import Attention, reduced_channels
from segfw.registry import NECKS


def strips(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, H + W, C): the H horizontal strips (mean over W), then the W vertical ones (mean over H)."""
    return torch.cat([x.mean(dim=3), x.mean(dim=2)], dim=2).transpose(1, 2)


@NECKS.register("strip_attention")
class StripAttention(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``.

    q = W_q x read as (B, H·W, d) (1×1 conv), k = W_k s and v = W_v s with s = strips(x)
    (B, H+W, C) (linear maps), d = C / reduction; y = x + γ · W_o Attention(q, k, v) with W_o a 1×1
    conv d → C and γ a learnable scalar starting at 0. Any score / normaliser of the attention core.
    Cost O(H·W·(H+W)·d) instead of the non-local block's O((H·W)²·d).
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 4,
        score: str = "scaled_dot",
        normalize: str = "softmax",
        heads: int = 1,
    ):
        super().__init__()
        dim = reduced_channels(in_channels, reduction, heads)
        self.query = nn.Conv2d(in_channels, dim, 1)
        self.key = nn.Linear(in_channels, dim)
        self.value = nn.Linear(in_channels, dim)
        self.attention = Attention(dim, score, normalize, heads)
        self.project = nn.Conv2d(dim, in_channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        s = strips(x)
        query = self.query(x).flatten(2).transpose(1, 2)
        out = self.attention(query, self.key(s), self.value(s))  # (B, H·W, d)
        out = out.transpose(1, 2).unflatten(2, x.shape[-2:])
        return x + self.gamma * self.project(out)
