"""SegNeXt's light Hamburger decoder (Guo et al., NeurIPS 2022), as mmseg 1.2.2's ``LightHamHead``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from segfw.models.blocks.hamburger import Hamburger, NMF2D
from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvGNReLU, resize
from segfw.registry import HEADS


@HEADS.register("light_ham")
class LightHamHead(nn.Module):
    """``y = classifier(CGR(Ham(CGR(cat_i up(feats[in_levels[i]])))))``: the levels upsampled bilinearly to the
    first one, concatenated, squeezed to ``ham_channels`` by a 1×1 conv + GroupNorm + ReLU (CGR), a
    :class:`Hamburger` with :class:`NMF2D` of rank ``rank`` (``train_steps`` / ``eval_steps`` updates;
    ``rand_init``: new random bases at every forward, in eval too, as mmseg's SegNeXt, or fixed ones kept in the
    state dict, see :class:`NMF2D`), a CGR to ``channels``, dropout and a 1×1 classifier. Every GroupNorm has
    ``math.gcd(gn_groups, C)`` groups: mmseg's 32 for its widths (multiples of 32); narrower test widths still build.

    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_levels[0]`` (8 on MSCAN's c3).
    """

    def __init__(self, in_specs: Mapping[str, FeatureSpec], num_classes: int,
                 in_levels: Sequence[str] = ("c3", "c4", "c5"), ham_channels: int = 256, channels: int = 256,
                 rank: int = 16, train_steps: int = 6, eval_steps: int = 7, rand_init: bool = False,
                 gn_groups: int = 32, dropout: float = 0.1):
        super().__init__()
        specs = [require_level(dict(in_specs), level, "head 'light_ham'") for level in in_levels]
        self.in_levels = list(in_levels)
        nmf = NMF2D(ham_channels, rank, 1, train_steps, eval_steps, rand_init)
        self.squeeze = ConvGNReLU(sum(spec.channels for spec in specs), ham_channels, 1, math.gcd(gn_groups, ham_channels))
        self.hamburger = Hamburger(ham_channels, nmf, gn_groups)
        self.align = ConvGNReLU(ham_channels, channels, 1, math.gcd(gn_groups, channels))
        self.classifier = Classifier(channels, num_classes, dropout)
        self.align_corners = False

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        maps = [feats[level] for level in self.in_levels]
        size = maps[0].shape[-2:]
        x = self.squeeze(torch.cat([resize(m, size, self.align_corners) for m in maps], dim=1))
        return self.classifier(self.align(self.hamburger(x)))
