"""SegNeXt's multi-scale convolutional attention network (Guo et al., NeurIPS 2022), MSCAN-T … L, as mmseg's ``MSCAN``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segfw.models.blocks.msca import KERNEL_SIZES, MSCASpatialAttention
from segfw.models.drop_path import DropPath
from segfw.models.feature_spec import FeatureSpec
from segfw.models.state_dict import load_checked
from segfw.registry import BACKBONES

# variant → (widths, blocks per stage, drop path rate): mmseg 1.2.2 configs/segnext/segnext_mscan-*_1xb16-adamw-160k_ade20k-512x512.py
VARIANTS = {
    "mscan_t": ((32, 64, 160, 256), (3, 3, 5, 2), 0.1),
    "mscan_s": ((64, 128, 320, 512), (2, 2, 4, 2), 0.1),
    "mscan_b": ((64, 128, 320, 512), (3, 3, 12, 3), 0.1),
    "mscan_l": ((64, 128, 320, 512), (3, 5, 27, 3), 0.3),
}
MLP_RATIOS = (8, 8, 4, 4)  # all four variants (the S/B/L configs inherit T's)
LAYER_SCALE = 1e-2
DOWNLOAD = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/mscan_t_20230227-119e8c9f.pth"


class MSCAMlp(nn.Sequential):
    """1×1 conv C → rC, 3×3 depthwise conv (with bias), GELU, 1×1 conv → C. (B, C, H, W) → (B, C, H, W)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__(nn.Conv2d(dim, hidden, 1), nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
                         nn.GELU(), nn.Conv2d(hidden, dim, 1))


class MSCABlock(nn.Module):
    """``x + drop(γ1 ⊙ attn(BN(x)))``, then ``x + drop(γ2 ⊙ mlp(BN(x)))``; γ per channel, initialised to 1e-2.
    (B, C, H, W) → (B, C, H, W); ``attn`` is :class:`MSCASpatialAttention`."""

    def __init__(self, dim: int, mlp_ratio: int, drop_path: float, kernel_sizes: Sequence[int]):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = MSCASpatialAttention(dim, kernel_sizes)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = MSCAMlp(dim, int(dim * mlp_ratio))
        self.layer_scale_1 = nn.Parameter(torch.full((dim,), LAYER_SCALE))
        self.layer_scale_2 = nn.Parameter(torch.full((dim,), LAYER_SCALE))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))


def stem(dim: int) -> nn.Sequential:
    """Stage 1's embedding: 3×3 stride-2 conv 3 → C/2, BN, GELU, 3×3 stride-2 conv → C, BN (stride 4)."""
    return nn.Sequential(nn.Conv2d(3, dim // 2, 3, 2, 1), nn.BatchNorm2d(dim // 2), nn.GELU(),
                         nn.Conv2d(dim // 2, dim, 3, 2, 1), nn.BatchNorm2d(dim))


class MSCANStage(nn.Module):
    """Embedding (stride 4 stem or 3×3 stride-2 conv + BN), MSCA blocks, LayerNorm over channels.
    (B, C_in, H, W) → (B, C, ⌈H/s⌉, ⌈W/s⌉)."""

    def __init__(self, embed: nn.Module, blocks: list[nn.Module], dim: int):
        super().__init__()
        self.embed = embed
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.embed(x))
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()


class MSCAN(nn.Module):
    """MSCAN backbone.

    ``forward(x (B, 3, H, W)) -> {"c2": (B, C1, ⌈H/4⌉, ⌈W/4⌉), "c3": (B, C2, /8), "c4": (B, C3, /16), "c5": (B, C4, /32)}``
    with ``widths`` C1…C4; stage i has ``depths[i]`` :class:`MSCABlock` s (BatchNorm, MSCA attention with
    ``kernel_sizes``, MLP ratio ``mlp_ratios[i]``). Stochastic depth rises linearly from 0 to
    ``drop_path_rate`` over all blocks. Odd sizes: every stride-2 conv rounds up, as mmseg's.
    ``pretrained``: null or a local file of MSCAN weights in mmseg's naming (the ``mscan_*.pth`` its configs
    start from; ``state_dict``/``backbone.`` prefixes accepted, an ImageNet classifier ``head.*`` ignored).
    """

    def __init__(self, widths: Sequence[int] = (64, 128, 320, 512), depths: Sequence[int] = (3, 3, 12, 3),
                 mlp_ratios: Sequence[int] = MLP_RATIOS, drop_path_rate: float = 0.1,
                 kernel_sizes: Sequence[int] = KERNEL_SIZES, pretrained: str | None = None):
        super().__init__()
        rates = [r.item() for r in torch.linspace(0, drop_path_rate, sum(depths))]
        stages, start = [], 0
        for i, (dim, depth) in enumerate(zip(widths, depths)):
            embed = stem(dim) if i == 0 else nn.Sequential(nn.Conv2d(widths[i - 1], dim, 3, 2, 1), nn.BatchNorm2d(dim))
            blocks = [MSCABlock(dim, mlp_ratios[i], rates[start + j], kernel_sizes) for j in range(depth)]
            stages.append(MSCANStage(embed, blocks, dim))
            start += depth
        self.stages = nn.ModuleList(stages)
        self.out_specs = {f"c{i + 2}": FeatureSpec(dim, 4 * 2**i) for i, dim in enumerate(widths)}
        if pretrained:
            from segfw.models.conversion.mmseg import mmseg_backbone_file

            state = mmseg_backbone_file(pretrained, "mscan", DOWNLOAD, ignore=("head.",))
            load_checked(self, state, f"model.backbone.pretrained={pretrained}")

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out = {}
        for level, stage in zip(self.out_specs, self.stages):
            x = out[level] = stage(x)
        return out


def _register(name: str) -> None:
    widths, depths, rate = VARIANTS[name]

    def build(drop_path_rate: float = rate, pretrained: str | None = None) -> MSCAN:
        return MSCAN(widths, depths, MLP_RATIOS, drop_path_rate, KERNEL_SIZES, pretrained)

    build.__doc__ = f"{name.upper().replace('_', '-')} (widths {list(widths)}, depths {list(depths)}; see :class:`MSCAN`)."
    BACKBONES.register(name)(build)


for _name in VARIANTS:
    _register(_name)
