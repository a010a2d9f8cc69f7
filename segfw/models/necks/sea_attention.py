"""SeaFormer's squeeze-enhanced axial attention block (Wan et al., "SeaFormer: Squeeze-enhanced Axial Transformer
for Mobile Semantic Segmentation", ICLR 2023)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU
from segfw.models.layout_mean import spatial_mean
from segfw.registry import NECKS

EMBEDDING_LENGTH = 16  # the official squeeze-axial positional embeddings' length, resized to H or W


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 1, groups: int = 1) -> ConvBNReLU:
    return ConvBNReLU(in_channels, out_channels, kernel_size, groups=groups, relu=False)


class SqueezedAxis(nn.Module):
    """Attention among the strips of one axis: the map squeezed to (B, ·, L), L = H (``axis="height"``) or W.
    ``forward(q, k, v (B, ·, H, W)) -> (B, h·d_v, H, 1) or (B, h·d_v, 1, W)``::

        q̄ = mean_other(q) + P_q,  k̄ = mean_other(k) + P_k,  v̄ = mean_other(v)          (B, ·, L)
        o = BN(W_o ReLU6(softmax_j(q̄_iᵀ k̄_j / √d_k) v̄_j))   per head; W_o: 1×1 conv h·d_v → h·d_v (no bias)

    P_q, P_k: learned (h·d_k, 16) embeddings, linearly resized to L (align_corners=False).
    """

    def __init__(self, key_channels: int, value_channels: int, heads: int, axis: str):
        super().__init__()
        self.heads, self.axis, self.scale = heads, axis, (key_channels // heads) ** -0.5
        self.position_q = nn.Parameter(torch.randn(1, key_channels, EMBEDDING_LENGTH))
        self.position_k = nn.Parameter(torch.randn(1, key_channels, EMBEDDING_LENGTH))
        self.encode = conv_bn(value_channels, value_channels)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        dim = 3 if self.axis == "height" else 2  # squeeze the other axis away

        def squeeze(t: Tensor, position: Tensor | None = None) -> Tensor:
            t = spatial_mean(t, (dim,)).flatten(2)  # (B, ·, L)
            if position is not None:
                t = t + F.interpolate(position, size=t.shape[-1], mode="linear", align_corners=False)
            return t.unflatten(1, (self.heads, -1))  # (B, h, ·, L)

        q_, k_, v_ = squeeze(q, self.position_q), squeeze(k, self.position_k), squeeze(v)
        attention = torch.softmax(torch.einsum("bhci,bhcj->bhij", q_, k_) * self.scale, dim=-1)
        out = torch.einsum("bhij,bhcj->bhci", attention, v_).flatten(1, 2).unsqueeze(dim)
        return self.encode(F.relu6(out))


@NECKS.register("sea_attention")
class SeaAttentionBlock(nn.Module):
    """SeaFormer's transformer block. ``forward(x (B, C, H, W)) -> (B, C, H, W)``::

        q, k = BN(W_q x), BN(W_k x)  (B, h·d_k, H, W)     v = BN(W_v x)  (B, h·d_v, H, W)     1×1 convs, no bias
        e = BN(W_e ReLU6(BN(D_3([q, k, v]))))              detail enhancement: depthwise 3×3, 1×1 → C
        s = v + o_H(q, k, v) + o_W(q, k, v)                 squeezed row and column attention (SqueezedAxis),
                                                            broadcast along W resp. H
        z = x + h_sigmoid(BN(W_p ReLU6(s))) ⊙ e             W_p: 1×1 h·d_v → C; h_sigmoid(t) = ReLU6(t + 3) / 6
        y = z + BN(W_2 ReLU6(D_3(BN(W_1 z))))               MLP: 1×1 C → ρC, depthwise 3×3 (bias), 1×1 ρC → C

    h = ``heads``, d_k = ``key_channels``, d_v = ``attn_ratio`` · d_k, ρ = ``mlp_ratio``. Cost
    O(H·W·C·(h·d_v + ρC) + (H² + W²)·h·d_v): the attention itself is among H + W strips. Symmetric in H and
    W once the row and column parameters are swapped and the 3×3 kernels transposed. The paper stacks these
    blocks in the backbone's last two stages (SeaFormer); here one is a context module after any backbone.
    """

    def __init__(self, in_channels: int, key_channels: int = 16, heads: int = 8, attn_ratio: float = 2.0,
                 mlp_ratio: float = 2.0):
        super().__init__()
        keys, values, hidden = key_channels * heads, int(attn_ratio * key_channels) * heads, int(mlp_ratio * in_channels)
        detail = 2 * keys + values
        self.to_q, self.to_k, self.to_v = conv_bn(in_channels, keys), conv_bn(in_channels, keys), conv_bn(in_channels, values)
        self.detail_dw = conv_bn(detail, detail, 3, groups=detail)
        self.detail_pw = conv_bn(detail, in_channels)
        self.rows = SqueezedAxis(keys, values, heads, "height")
        self.columns = SqueezedAxis(keys, values, heads, "width")
        self.proj = conv_bn(values, in_channels)
        self.mlp_in = conv_bn(in_channels, hidden)
        self.mlp_dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.mlp_out = conv_bn(hidden, in_channels)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        detail = self.detail_pw(F.relu6(self.detail_dw(torch.cat([q, k, v], dim=1))))
        s = v + self.rows(q, k, v) + self.columns(q, k, v)
        z = x + F.hardsigmoid(self.proj(F.relu6(s))) * detail
        return z + self.mlp_out(F.relu6(self.mlp_dw(self.mlp_in(z))))
