"""DeepLabV3 head (Chen et al., 2017): ASPP, a 3×3 conv, a classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU
from segfw.models.necks.aspp import ASPP
from segfw.registry import HEADS


@HEADS.register("aspp")
class ASPPHead(nn.Module):
    """:class:`ASPP` on ``in_level`` → 3×3 ConvBNReLU → classifier.

    ``rates`` default to the DeepLabV3 rates for the stride of ``in_level`` (12, 24, 36 at 8).
    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_level``.
    """

    def __init__(
        self,
        in_specs: Mapping[str, FeatureSpec],
        num_classes: int,
        in_level: str = "c5",
        channels: int = 256,
        rates: Sequence[int] | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        spec = require_level(dict(in_specs), in_level, "head 'aspp'")
        self.in_level = in_level
        self.aspp = ASPP(spec.channels, channels, output_stride=spec.stride, rates=rates)
        self.conv = ConvBNReLU(channels, channels, 3)
        self.classifier = Classifier(channels, num_classes, dropout)

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        return self.classifier(self.conv(self.aspp(feats[self.in_level])))
