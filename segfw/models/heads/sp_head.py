"""SPNet head (Hou et al., "Strip Pooling", CVPR 2020): channel reduction, mixed pooling modules, classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU
from segfw.models.necks.mixed_pooling import MixedPooling
from segfw.registry import HEADS


@HEADS.register("sp_head")
class SPHead(nn.Module):
    """As the official SPHead: ``CBR_1×1`` to ``channels`` (default C/2) → ``num_mpms`` ×
    :class:`MixedPooling` → ``CBR_3×3`` to ``channels // 2`` → classifier.

    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_level``.
    """

    def __init__(
        self,
        in_specs: Mapping[str, FeatureSpec],
        num_classes: int,
        in_level: str = "c5",
        channels: int | None = None,
        num_mpms: int = 2,
        pool_sizes: Sequence[int] = (20, 12),
        reduction: int = 4,
        dropout: float = 0.1,
    ):
        super().__init__()
        spec = require_level(dict(in_specs), in_level, "head 'sp_head'")
        self.in_level = in_level
        channels = channels or spec.channels // 2
        self.reduce = ConvBNReLU(spec.channels, channels, 1)
        self.mpms = nn.Sequential(*(MixedPooling(channels, pool_sizes, reduction) for _ in range(num_mpms)))
        self.score = ConvBNReLU(channels, channels // 2, 3)
        self.classifier = Classifier(channels // 2, num_classes, dropout)

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        return self.classifier(self.score(self.mpms(self.reduce(feats[self.in_level]))))
