"""SegFormer's Mix Transformer (Xie et al., NeurIPS 2021), MiT-B0 … B5, as mmseg's ``MixVisionTransformer``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.drop_path import DropPath
from segfw.models.feature_spec import FeatureSpec
from segfw.models.state_dict import load_checked
from segfw.registry import BACKBONES

# variant → (embed width of stage 1, blocks per stage); heads 1-2-5-8, sr ratios 8-4-2-1 for all
VARIANTS = {
    "mit_b0": (32, (2, 2, 2, 2)),
    "mit_b1": (64, (2, 2, 2, 2)),
    "mit_b2": (64, (3, 4, 6, 3)),
    "mit_b3": (64, (3, 4, 18, 3)),
    "mit_b4": (64, (3, 8, 27, 3)),
    "mit_b5": (64, (3, 6, 40, 3)),
}
HEADS = (1, 2, 5, 8)
SR_RATIOS = (8, 4, 2, 1)
PATCH_SIZES = (7, 3, 3, 3)
STRIDES = (4, 2, 2, 2)
EPS = 1e-6  # mmseg's LayerNorm eps for MiT
DOWNLOAD = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth"


class EfficientSelfAttention(nn.Module):
    """``forward(x (B, N, C), hw) -> (B, N, C)``: multi-head attention whose keys and values come from
    ``x`` reduced by an ``sr × sr`` stride-``sr`` conv + LayerNorm (sr = 1: plain self-attention).

    Parameters as ``nn.MultiheadAttention``: ``in_proj_weight`` (3C, C) = [W_q; W_k; W_v], ``out_proj``.
    """

    def __init__(self, dim: int, heads: int, sr_ratio: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.out_proj = nn.Linear(dim, dim)
        self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio) if sr_ratio > 1 else None
        self.norm = nn.LayerNorm(dim, eps=EPS) if sr_ratio > 1 else None

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        dim = x.shape[-1]
        kv = x
        if self.sr is not None:
            kv = self.norm(self.sr(x.transpose(1, 2).unflatten(2, hw)).flatten(2).transpose(1, 2))
        w, b = self.in_proj_weight, self.in_proj_bias
        q = F.linear(x, w[:dim], b[:dim])
        k, v = F.linear(kv, w[dim:], b[dim:]).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class MixFFN(nn.Module):
    """``forward(x (B, N, C), hw) -> (B, N, C)``: 1×1 conv C → 4C, 3×3 depthwise conv, GELU, 1×1 conv → C."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.pe_conv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        y = self.fc2(F.gelu(self.pe_conv(self.fc1(x.transpose(1, 2).unflatten(2, hw)))))
        return y.flatten(2).transpose(1, 2)


class MiTBlock(nn.Module):
    """``x + drop(attn(LN(x)))``, then ``x + drop(ffn(LN(x)))`` on tokens (B, N, C)."""

    def __init__(self, dim: int, heads: int, sr_ratio: int, mlp_ratio: int, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.attn = EfficientSelfAttention(dim, heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.ffn = MixFFN(dim, mlp_ratio * dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), hw))
        return x + self.drop_path(self.ffn(self.norm2(x), hw))


class MiTStage(nn.Module):
    """Overlapping patch embedding (k×k conv, stride s, padding k // 2, LayerNorm), blocks, LayerNorm.
    (B, C_in, H, W) → (B, C, ceil(H / s), ceil(W / s))."""

    def __init__(self, in_channels: int, dim: int, patch: int, stride: int, blocks: list[nn.Module]):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, stride, patch // 2)
        self.embed_norm = nn.LayerNorm(dim, eps=EPS)
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim, eps=EPS)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)
        hw = tuple(x.shape[-2:])
        x = self.embed_norm(x.flatten(2).transpose(1, 2))
        for block in self.blocks:
            x = block(x, hw)
        return self.norm(x).transpose(1, 2).unflatten(2, hw)


class MixTransformer(nn.Module):
    """Mix Transformer backbone.

    ``forward(x (B, 3, H, W)) -> {"c2": (B, C, ⌈H/4⌉, ⌈W/4⌉), "c3": (B, 2C, /8), "c4": (B, 5C, /16), "c5": (B, 8C, /32)}``
    with C = ``embed_dims``; stage i has ``depths[i]`` blocks of efficient self-attention (heads 1-2-5-8,
    spatial reduction 8-4-2-1) and Mix-FFN (``mlp_ratio`` 4). Stochastic depth rises linearly from 0
    to ``drop_path_rate`` over all blocks. Odd sizes: each patch embedding rounds up (no pad, no crop),
    as mmseg's. ``pretrained``: null or a local file of MiT weights in mmseg's naming (the
    ``mit_b*.pth`` its configs start from; ``state_dict``/``backbone.`` prefixes accepted).
    """

    def __init__(self, embed_dims: int = 64, depths: Sequence[int] = (3, 4, 6, 3), mlp_ratio: int = 4,
                 drop_path_rate: float = 0.1, pretrained: str | None = None):
        super().__init__()
        rates = [r.item() for r in torch.linspace(0, drop_path_rate, sum(depths))]
        stages, in_channels, start = [], 3, 0
        for i, depth in enumerate(depths):
            dim = embed_dims * HEADS[i]
            blocks = [MiTBlock(dim, HEADS[i], SR_RATIOS[i], mlp_ratio, rates[start + j]) for j in range(depth)]
            stages.append(MiTStage(in_channels, dim, PATCH_SIZES[i], STRIDES[i], blocks))
            in_channels, start = dim, start + depth
        self.stages = nn.ModuleList(stages)
        self.out_specs = {f"c{i + 2}": FeatureSpec(embed_dims * HEADS[i], 4 * 2**i) for i in range(len(depths))}
        if pretrained:
            from segfw.models.conversion.mmseg import mmseg_backbone_file

            load_checked(self, mmseg_backbone_file(pretrained, "mit", DOWNLOAD), f"model.backbone.pretrained={pretrained}")

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out = {}
        for level, stage in zip(self.out_specs, self.stages):
            x = out[level] = stage(x)
        return out


def _register(name: str) -> None:
    embed_dims, depths = VARIANTS[name]

    def build(drop_path_rate: float = 0.1, pretrained: str | None = None) -> MixTransformer:
        return MixTransformer(embed_dims, depths, 4, drop_path_rate, pretrained)

    build.__doc__ = f"{name.upper().replace('_', '-')} (embed {embed_dims}, depths {list(depths)}; see :class:`MixTransformer`)."
    BACKBONES.register(name)(build)


for _name in VARIANTS:
    _register(_name)
