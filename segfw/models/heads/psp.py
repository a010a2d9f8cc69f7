"""PSPNet head (Zhao et al., CVPR 2017): pyramid pooling, a 3×3 conv, a classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU
from segfw.models.necks.ppm import PyramidPooling
from segfw.registry import HEADS


@HEADS.register("psp")
class PSPHead(nn.Module):
    """:class:`PyramidPooling` on ``in_level`` → 3×3 ConvBNReLU to ``channels`` → classifier.

    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_level``.
    """

    def __init__(
        self,
        in_specs: Mapping[str, FeatureSpec],
        num_classes: int,
        in_level: str = "c5",
        bins: Sequence[int] = (1, 2, 3, 6),
        channels: int = 512,
        dropout: float = 0.1,
    ):
        super().__init__()
        spec = require_level(dict(in_specs), in_level, "head 'psp'")
        self.in_level = in_level
        self.pyramid = PyramidPooling(spec.channels, bins)
        self.bottleneck = ConvBNReLU(self.pyramid.out_channels, channels, 3)
        self.classifier = Classifier(channels, num_classes, dropout)

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        return self.classifier(self.bottleneck(self.pyramid(feats[self.in_level])))
