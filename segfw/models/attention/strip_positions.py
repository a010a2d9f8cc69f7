"""Position terms that let a pixel find its own row and column among H + W strips."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError

POSITIONS = ("none", "sinusoidal", "learned")


def sinusoid_table(length: int, dim: int, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """(length, dim): entry [p, 2i] = sin(p ω_i), [p, 2i + 1] = cos(p ω_i), ω_i = 10000^(−2i / dim).

    Vaswani et al. 2017. The dot product of two rows, Σ_i cos((p − p') ω_i), is largest at p = p'.
    """
    half = (dim + 1) // 2
    omega = 10000.0 ** (-2.0 * torch.arange(half, dtype=dtype, device=device) / max(dim, 1))
    angles = torch.arange(length, dtype=dtype, device=device)[:, None] * omega
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :dim]


class StripPositions(nn.Module):
    """Position terms added to the queries (pixels) and keys (strips) of strip attention.

    ``forward(height, width, like) -> (query_pos (H·W, d), key_pos (H + W, d))``. Each head's slice
    of d/h channels is split into a row part (d_r = ⌊d/2h⌋ channels) and a column part
    (d_c = d/h − d_r): pixel (i, j) gets [r_i, c_j], row strip i gets [r_i, 0], column strip j gets
    [0, c_j]. So q·k of pixel (i, j) has the term r_i·r_i' with row strip i' and c_j·c_j' with
    column strip j', both largest at its own row and column.

    - ``sinusoidal``: r_i, c_j are rows of :func:`sinusoid_table` at the absolute indices i, j.
    - ``learned``: r, c are learned tables of ``length`` entries, initialised to the sinusoidal
      ones and resized linearly (align_corners=True) to H and W when the map has another size.
    """

    def __init__(self, dim: int, heads: int = 1, mode: str = "sinusoidal", length: int = 64):
        super().__init__()
        if mode not in POSITIONS[1:]:
            raise ConfigError(f"strip position '{mode}' is unknown; choose one of: {', '.join(POSITIONS)}")
        self.heads, self.mode = heads, mode
        head_dim = dim // heads
        self.row_dim, self.col_dim = head_dim // 2, head_dim - head_dim // 2
        if mode == "learned":
            self.no_weight_decay = ("rows", "cols")  # segfw.models.param_groups: decay would erase the sinusoids
            self.rows = nn.Parameter(sinusoid_table(length, self.row_dim))
            self.cols = nn.Parameter(sinusoid_table(length, self.col_dim))

    def tables(self, height: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """Row table (H, d_r) and column table (W, d_c)."""
        if self.mode == "sinusoidal":
            return (sinusoid_table(height, self.row_dim, like.dtype, like.device),
                    sinusoid_table(width, self.col_dim, like.dtype, like.device))
        return resized(self.rows, height), resized(self.cols, width)

    def forward(self, height: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
        rows, cols = self.tables(height, width, like)
        pixel = torch.cat([rows[:, None].expand(-1, width, -1), cols[None].expand(height, -1, -1)], dim=-1)
        row_strips = torch.cat([rows, rows.new_zeros(height, self.col_dim)], dim=-1)
        col_strips = torch.cat([cols.new_zeros(width, self.row_dim), cols], dim=-1)
        query_pos = pixel.flatten(0, 1).repeat(1, self.heads)
        key_pos = torch.cat([row_strips, col_strips]).repeat(1, self.heads)
        return query_pos, key_pos


def resized(table: Tensor, length: int) -> Tensor:
    """(L, c) → (length, c) by linear interpolation with align_corners=True (the table itself when L = length)."""
    if table.shape[0] == length:
        return table
    return F.interpolate(table.T[None], size=length, mode="linear", align_corners=True)[0].T
