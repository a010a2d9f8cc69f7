"""FCN head (Long et al., CVPR 2015, in mmsegmentation's form): convs, optional input concat, classifier."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU
from segfw.registry import HEADS


@HEADS.register("fcn")
class FCNHead(nn.Module):
    """As mmseg's ``FCNHead``: ``h = num_convs × CBR_3×3(x)`` on ``x = feats[in_level]``; with
    ``concat_input``, ``h = CBR_3×3(concat(x, h))``; then dropout and a 1×1 classifier.

    With ``num_convs=0`` the classifier reads ``x`` itself. After a context module (ppm, aspp, …)
    the first conv is what mmseg calls the head's "bottleneck".
    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``in_level``.
    """

    def __init__(
        self,
        in_specs: Mapping[str, FeatureSpec],
        num_classes: int,
        in_level: str = "c5",
        channels: int = 256,
        num_convs: int = 2,
        concat_input: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        spec = require_level(dict(in_specs), in_level, "head 'fcn'")
        self.in_level = in_level
        widths = [spec.channels] + [channels] * num_convs
        self.convs = nn.Sequential(*(ConvBNReLU(a, b) for a, b in zip(widths, widths[1:])))
        self.conv_cat = ConvBNReLU(spec.channels + widths[-1], channels) if concat_input else None
        self.classifier = Classifier(channels if concat_input else widths[-1], num_classes, dropout)

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        x = feats[self.in_level]
        h = self.convs(x)
        if self.conv_cat is not None:
            h = self.conv_cat(torch.cat([x, h], dim=1))
        return self.classifier(h)
