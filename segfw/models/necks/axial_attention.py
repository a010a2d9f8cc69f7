"""Position-sensitive axial attention (Wang et al., "Axial-DeepLab: Stand-Alone Axial-Attention for Panoptic
Segmentation", ECCV 2020): the residual axial-attention block, height axis then width axis."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.registry import NECKS


class PositionSensitiveAxialAttention(nn.Module):
    """Multi-head self-attention along one axis (``axis="height"``: within each column; ``"width"``: each row),
    with relative positional terms on the queries, keys and values. ``forward(x (B, C, H, W)) -> (B, C, H, W)``::

        [q, k, v] = BN(W_qkv x)                    per line of length L, per head: q, k (C/(2h)), v (C/h)
        s[i, j] = BN_qk(q_iᵀ k_j) + BN_qr(q_iᵀ r^q_{i−j}) + BN_kr(k_jᵀ r^k_{j−i})      (L × L per head)
        a = softmax_j s
        y_i = BN_sv(Σ_j a[i, j] v_j) + BN_sve(Σ_j a[i, j] r^v_{i−j})

    h = ``heads``; r^q, r^k, r^v: learned embeddings of the offsets −(S−1)..S−1 (S = ``span``, the official
    ``kernel_size``); an offset beyond S − 1 takes the embedding of ±(S − 1). BN_qk, BN_qr, BN_kr are the
    channels of one BatchNorm over the stacked similarities (3h), BN_sv, BN_sve those of one over the stacked
    outputs (2C). Cost O(H·W·C·(C + L)).
    """

    def __init__(self, channels: int, heads: int, span: int, axis: str):
        super().__init__()
        self.heads, self.head_channels, self.span, self.axis = heads, channels // heads, span, axis
        self.qkv = nn.Conv1d(channels, 2 * channels, 1, bias=False)
        self.qkv_norm = nn.BatchNorm1d(2 * channels)
        self.similarity_norm = nn.BatchNorm2d(3 * heads)
        self.output_norm = nn.BatchNorm1d(2 * channels)
        self.relative = nn.Parameter(torch.randn(2 * self.head_channels, 2 * span - 1) / self.head_channels**0.5)
        nn.init.normal_(self.qkv.weight, 0.0, channels**-0.5)

    def embeddings(self, length: int) -> tuple[Tensor, Tensor, Tensor]:
        """r^q, r^k, r^v as (c, L, L) tables: entry [c, i, j] embeds the offset i − j."""
        position = torch.arange(length, device=self.relative.device)
        offset = (position[:, None] - position[None, :]).clamp(1 - self.span, self.span - 1) + self.span - 1
        table = self.relative[:, offset]
        half = self.head_channels // 2
        return table.split([half, half, self.head_channels], dim=0)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        lines = x.permute(0, 3, 1, 2) if self.axis == "height" else x.permute(0, 2, 1, 3)  # (B, W|H, C, L)
        count, length = lines.shape[1], lines.shape[-1]
        lines = lines.reshape(batch * count, channels, length)
        qkv = self.qkv_norm(self.qkv(lines)).view(batch * count, self.heads, 2 * self.head_channels, length)
        half = self.head_channels // 2
        q, k, v = qkv.split([half, half, self.head_channels], dim=2)  # (N, h, c, L)
        r_q, r_k, r_v = self.embeddings(length)
        qk = torch.einsum("nhci,nhcj->nhij", q, k)
        qr = torch.einsum("nhci,cij->nhij", q, r_q)
        kr = torch.einsum("nhcj,cji->nhij", k, r_k)
        stacked = self.similarity_norm(torch.cat([qk, qr, kr], dim=1))
        attention = F.softmax(stacked.view(batch * count, 3, self.heads, length, length).sum(dim=1), dim=-1)
        sv = torch.einsum("nhij,nhcj->nhci", attention, v)
        sve = torch.einsum("nhij,cij->nhci", attention, r_v)
        out = self.output_norm(torch.cat([sv, sve], dim=1).reshape(batch * count, 2 * channels, length))
        out = out.view(batch, count, 2, channels, length).sum(dim=2)  # (B, W|H, C, L)
        return out.permute(0, 2, 3, 1) if self.axis == "height" else out.permute(0, 2, 1, 3)


@NECKS.register("axial_attention")
class AxialAttentionBlock(nn.Module):
    """Axial-DeepLab's residual axial-attention block. ``forward(x (B, C, H, W)) -> (B, C, H, W)``::

        u = ReLU(BN(W_down x))                   W_down: 1×1 conv C → w (no bias), w = ⌊C · width_ratio⌋
        u = ReLU(A_width(A_height(u)))           A_*: :class:`PositionSensitiveAxialAttention` along H, then W
        y = ReLU(x + BN(W_up u))                 W_up: 1×1 conv w → C (no bias)

    Global along each axis: every pixel attends to its whole column, then its whole row, so two blocks reach
    the whole map. Cost O(H·W·C·(C + H + W)). H comes before W, so the block is not symmetric in H and W (a
    transposed map does not give the transposed output, even with the two attentions' weights swapped).
    The paper stacks these blocks as the backbone (Axial-ResNet); here one is a context module after any backbone.
    """

    def __init__(self, in_channels: int, heads: int = 4, span: int = 64, width_ratio: float = 0.5):
        super().__init__()
        width = int(in_channels * width_ratio)
        if width < 2 * heads or width % (2 * heads):
            raise ConfigError(f"axial_attention: the width {width} (in_channels {in_channels} × width_ratio "
                              f"{width_ratio}) must be a multiple of 2 × heads = {2 * heads} (q and k take half a head)")
        if span < 1:
            raise ConfigError(f"axial_attention: span must be ≥ 1, got {span}")
        self.down = nn.Conv2d(in_channels, width, 1, bias=False)
        self.down_norm = nn.BatchNorm2d(width)
        self.height = PositionSensitiveAxialAttention(width, heads, span, "height")
        self.width = PositionSensitiveAxialAttention(width, heads, span, "width")
        self.up = nn.Conv2d(width, in_channels, 1, bias=False)
        self.up_norm = nn.BatchNorm2d(in_channels)

    def forward(self, x: Tensor) -> Tensor:
        u = F.relu(self.down_norm(self.down(x)))
        u = F.relu(self.width(self.height(u)))
        return F.relu(x + self.up_norm(self.up(u)))
