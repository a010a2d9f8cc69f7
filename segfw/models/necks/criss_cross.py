"""Recurrent criss-cross attention (Huang et al., "CCNet", ICCV 2019)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segfw.models.attention import NORMALIZERS, SCORES, reduced_channels
from segfw.registry import NECKS


def columns(t: Tensor) -> Tensor:
    """(B, H, W, c) → (B·W, H, c): one sequence per column."""
    return t.transpose(1, 2).flatten(0, 1)


def rows(t: Tensor) -> Tensor:
    """(B, H, W, c) → (B·H, W, c): one sequence per row."""
    return t.flatten(0, 1)


@NECKS.register("criss_cross")
class CrissCross(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``: each pixel attends to its column and its row.

    One pass: q, k = 1×1 convs of x to d = C / reduction, v = 1×1 conv to C. Pixel u = (i, j) scores
    the H keys of column j and the W keys of row i. u itself is in both; as in the official code, its
    column copy gets score −∞, so the H + W − 1 distinct positions are normalised jointly (softmax or
    sigmoid). y_u = x_u + γ (Σ_i' w_u,i' v_i'j + Σ_j' w_u,j' v_ij'), γ learnable from 0.
    The pass runs ``recurrence`` times with shared weights (R = 2 connects every pair of pixels).
    Cost O(R·H·W·(H+W)·(d + C)).
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 8,
        recurrence: int = 2,
        score: str = "dot",
        normalize: str = "softmax",
    ):
        super().__init__()
        dim = reduced_channels(in_channels, reduction)
        self.recurrence = recurrence
        self.query = nn.Conv2d(in_channels, dim, 1)
        self.key = nn.Conv2d(in_channels, dim, 1)
        self.value = nn.Conv2d(in_channels, in_channels, 1)
        self.score = SCORES.get(score)(dim)
        self.normalize = NORMALIZERS.get(normalize)()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        for _ in range(self.recurrence):
            x = self.attend(x)
        return x

    def attend(self, x: Tensor) -> Tensor:
        """One criss-cross pass, (B, C, H, W) → (B, C, H, W)."""
        batch, _, height, width = x.shape
        q, k, v = (t.permute(0, 2, 3, 1) for t in (self.query(x), self.key(x), self.value(x)))  # (B, H, W, c)
        # s_col[b, i, j, i'] = score(q_ij, k_i'j); s_row[b, i, j, j'] = score(q_ij, k_ij')
        s_col = self.score(columns(q), columns(k)).unflatten(0, (batch, width)).transpose(1, 2)
        s_row = self.score(rows(q), rows(k)).unflatten(0, (batch, height))
        index = torch.arange(height, device=x.device)
        self_in_column = (index[:, None] == index[None, :]).unsqueeze(1)  # (H, 1, H): i' == i
        s_col = s_col.masked_fill(self_in_column, float("-inf"))
        weights = self.normalize(torch.cat([s_col, s_row], dim=-1), num_keys=height + width - 1)
        w_col, w_row = weights.split([height, width], dim=-1)
        out_col = (columns(w_col) @ columns(v)).unflatten(0, (batch, width)).transpose(1, 2)
        out_row = (rows(w_row) @ rows(v)).unflatten(0, (batch, height))
        return x + self.gamma * (out_col + out_row).permute(0, 3, 1, 2)
