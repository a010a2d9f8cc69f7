"""SegFormer's all-MLP decoder (Xie et al., NeurIPS 2021), as mmseg's ``SegformerHead``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU, resize
from segfw.registry import HEADS


@HEADS.register("segformer")
class SegformerHead(nn.Module):
    """``y = classifier(CBR_1×1(cat_i up(CBR_1×1^i(feats[in_levels[i]]))))``, every level projected to
    ``channels`` and upsampled bilinearly to the finest one.

    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_levels[0]`` (4 on MiT).
    """

    def __init__(self, in_specs: Mapping[str, FeatureSpec], num_classes: int,
                 in_levels: Sequence[str] = ("c2", "c3", "c4", "c5"), channels: int = 256, dropout: float = 0.1):
        super().__init__()
        specs = [require_level(dict(in_specs), level, "head 'segformer'") for level in in_levels]
        self.in_levels = list(in_levels)
        self.convs = nn.ModuleList(ConvBNReLU(spec.channels, channels, 1) for spec in specs)
        self.fuse = ConvBNReLU(len(specs) * channels, channels, 1)
        self.classifier = Classifier(channels, num_classes, dropout)
        self.align_corners = False

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        maps = [conv(feats[level]) for conv, level in zip(self.convs, self.in_levels)]
        size = maps[0].shape[-2:]
        return self.classifier(self.fuse(torch.cat([resize(m, size, self.align_corners) for m in maps], dim=1)))
