"""FCN head (Long et al., CVPR 2015, in mmsegmentation's form): convs then a 1×1 classifier."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU
from segfw.registry import HEADS


@HEADS.register("fcn")
class FCNHead(nn.Module):
    """``num_convs`` 3×3 ConvBNReLU on ``in_level`` then a classifier.

    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_level``.
    """

    def __init__(
        self,
        in_specs: Mapping[str, FeatureSpec],
        num_classes: int,
        in_level: str = "c5",
        channels: int = 256,
        num_convs: int = 2,
        dropout: float = 0.1,
    ):
        super().__init__()
        spec = require_level(dict(in_specs), in_level, "head 'fcn'")
        self.in_level = in_level
        widths = [spec.channels] + [channels] * num_convs
        self.convs = nn.Sequential(*(ConvBNReLU(a, b) for a, b in zip(widths, widths[1:])))
        self.classifier = Classifier(widths[-1], num_classes, dropout)

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        return self.classifier(self.convs(feats[self.in_level]))
