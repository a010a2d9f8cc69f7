"""UPerNet head (Xiao et al., ECCV 2018): pyramid pooling on the deepest level + FPN, fused at the finest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU, resize
from segfw.models.necks.ppm import PyramidPooling
from segfw.errors import ConfigError
from segfw.registry import HEADS


@HEADS.register("uper")
class UPerHead(nn.Module):
    """UPerNet decoder over ``in_levels`` (finest first, e.g. c2..c5).

    - top: ``CBR_3×3(PPM(feats[in_levels[-1]]))`` (PPM branches ``channels`` wide, as mmseg);
      other levels: lateral ``CBR_1×1`` to ``channels``;
    - top-down: ``p_i = lateral_i + up(p_{i+1})``, then ``CBR_3×3`` on each non-top ``p_i``;
    - all ``p_i`` upsampled to the finest size, concatenated, ``CBR_3×3`` → classifier.

    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_levels[0]``. Equals mmseg's
    ``UPerHead``; on an output-stride-32 backbone the FPN sees c2..c5 at strides 4, 8, 16, 32.
    """

    def __init__(
        self,
        in_specs: Mapping[str, FeatureSpec],
        num_classes: int,
        in_levels: Sequence[str] = ("c2", "c3", "c4", "c5"),
        bins: Sequence[int] = (1, 2, 3, 6),
        channels: int = 512,
        dropout: float = 0.1,
    ):
        super().__init__()
        if len(in_levels) < 2:
            raise ConfigError(f"head 'uper' needs at least two in_levels (finest first), got {list(in_levels)}")
        specs = [require_level(dict(in_specs), level, "head 'uper'") for level in in_levels]
        self.in_levels = list(in_levels)
        pyramid = PyramidPooling(specs[-1].channels, bins, channels)
        self.top = nn.Sequential(pyramid, ConvBNReLU(pyramid.out_channels, channels, 3))
        self.laterals = nn.ModuleList(ConvBNReLU(spec.channels, channels, 1) for spec in specs[:-1])
        self.smooth = nn.ModuleList(ConvBNReLU(channels, channels, 3) for _ in specs[:-1])
        self.fuse = ConvBNReLU(len(specs) * channels, channels, 3)
        self.classifier = Classifier(channels, num_classes, dropout)
        self.align_corners = False

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        *lower, top = (feats[level] for level in self.in_levels)
        pyramid = [lateral(x) for lateral, x in zip(self.laterals, lower)] + [self.top(top)]
        for i in range(len(pyramid) - 1, 0, -1):
            pyramid[i - 1] = pyramid[i - 1] + resize(pyramid[i], pyramid[i - 1].shape[-2:], self.align_corners)
        outputs = [smooth(p) for smooth, p in zip(self.smooth, pyramid)] + [pyramid[-1]]
        size = outputs[0].shape[-2:]
        return self.classifier(self.fuse(torch.cat([resize(p, size, self.align_corners) for p in outputs], dim=1)))
