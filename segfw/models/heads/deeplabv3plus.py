"""DeepLabV3+ head (Chen et al., ECCV 2018): ASPP on deep features, refined with low-level features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.layers import Classifier, ConvBNReLU, SeparableConvBNReLU, resize
from segfw.models.necks.aspp import ASPP
from segfw.registry import HEADS


@HEADS.register("deeplabv3plus")
class DeepLabV3PlusHead(nn.Module):
    """Decoder of DeepLabV3+.

    ``a = ASPP(feats[in_level])`` upsampled to ``low_level``'s size, ``l = CBR_1×1(feats[low_level])``
    with ``low_level_channels`` (48) channels; two 3×3 convs on ``concat(a, l)`` → classifier.
    ``forward(feats) -> (B, K, H/s, W/s)`` with s the stride of ``low_level`` (4 for c2).
    ASPP ``rates`` default to the DeepLabV3 rates for the stride of ``in_level``.

    ``separable=True`` with ``projection_kernel=3`` and ``image_pool_first=True`` is mmseg's
    ``DepthwiseSeparableASPPHead``: separable dilated ASPP branches, a 3×3 ASPP bottleneck and two
    depthwise-separable fuse convs.
    """

    def __init__(
        self,
        in_specs: Mapping[str, FeatureSpec],
        num_classes: int,
        in_level: str = "c5",
        low_level: str = "c2",
        channels: int = 256,
        low_level_channels: int = 48,
        rates: Sequence[int] | None = None,
        dropout: float = 0.1,
        separable: bool = False,
        projection_kernel: int = 1,
        image_pool_first: bool = False,
    ):
        super().__init__()
        deep = require_level(dict(in_specs), in_level, "head 'deeplabv3plus'")
        shallow = require_level(dict(in_specs), low_level, "head 'deeplabv3plus'")
        self.in_level, self.low_level = in_level, low_level
        self.aspp = ASPP(deep.channels, channels, deep.stride, rates, projection_kernel, image_pool_first, separable)
        self.reduce_low_level = ConvBNReLU(shallow.channels, low_level_channels, 1)
        fuse = SeparableConvBNReLU if separable else ConvBNReLU
        self.fuse = nn.Sequential(fuse(self.aspp.out_channels + low_level_channels, channels), fuse(channels, channels))
        self.classifier = Classifier(channels, num_classes, dropout)
        self.align_corners = False

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        low = self.reduce_low_level(feats[self.low_level])
        context = resize(self.aspp(feats[self.in_level]), low.shape[-2:], self.align_corners)
        return self.classifier(self.fuse(torch.cat([context, low], dim=1)))
