"""Object-contextual representations (Yuan et al., "Object-Contextual Representations for Semantic Segmentation", ECCV 2020)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from segfw.models.attention.projected_attention import ProjectedAttention
from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.heads.fcn import FCNHead
from segfw.models.layers import ConvBNReLU, resize
from segfw.registry import NECKS


@NECKS.register("object_context")
class ObjectContext(nn.Module):
    """OCRNet's cascade as one neck: soft object regions from its own small classifier, then each
    pixel attends to the K region descriptors (mmseg's ``FCNHead`` + ``OCRHead`` of
    ``CascadeEncoderDecoder``, without the final classifier).

    ``forward(x (B, C, H, W), {region_level: (B, C', h, w)}) -> (B, channels, H, W)``;
    ``forward_with_sides`` also returns ``{"regions": (B, K, h, w)}``, the region logits, which
    :class:`LevelNeck` publishes as ``<level>_regions`` for a ``{level: c5_regions}`` side head
    (their loss, mmseg's ``decode_0.loss_ce``)::

        z = FCN(feats[region_level])           CBR_3×3 C' → ``region_channels``, dropout, 1×1 → K logits
        f = CBR_3×3(x)                          C → c (``channels``)
        P = softmax_n(resize(z, H × W))         (B, K, N): each region's weights over the N = H·W pixels
        R = P fᵀ                                (B, K, c): one descriptor per region (mmseg's SpatialGather)
        a = softmax_k(q_n · k_k / √d) v_k       q = φ(f), k = φ'(R): two 1×1 CBR c → d → d;
                                                v = CBR_1×1 c → d; then CBR_1×1 d → c
                                                (d = ``key_channels``, mmseg's ocr_channels)
        out = CBR_1×1([a, f])                   2c → c

    The neck needs ``num_classes`` (given by the segmentor) and reads ``region_level`` besides its
    own (``context_levels``). Cost O(N·K·(c + d)).
    """

    def __init__(self, in_channels: int, num_classes: int, in_specs: Mapping[str, FeatureSpec],
                 region_level: str = "c4", region_channels: int = 256, region_dropout: float = 0.1,
                 channels: int = 512, key_channels: int = 256):
        super().__init__()
        require_level(dict(in_specs), region_level, "neck 'object_context' (region_level)")
        self.context_levels = (region_level,)
        self.regions = FCNHead(in_specs, num_classes, region_level, region_channels, num_convs=1, dropout=region_dropout)
        self.bottleneck = ConvBNReLU(in_channels, channels)
        self.attention = ProjectedAttention(channels, key_channels, channels, projected_values=True)
        self.fuse = ConvBNReLU(2 * channels, channels, kernel_size=1)
        self.out_channels = channels
        self.side_channels = {"regions": num_classes}
        self.align_corners = False  # the model's (set_align_corners); region logits at another stride are resized

    def forward_with_sides(self, x: Tensor, levels: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logits = self.regions(levels)
        f = self.bottleneck(x)
        weights = resize(logits, f.shape[-2:], self.align_corners).flatten(2).softmax(dim=2)  # (B, K, N)
        regions = torch.bmm(weights, f.flatten(2).transpose(1, 2))  # (B, K, c)
        a = self.attention(f, regions.transpose(1, 2).unsqueeze(-1))  # keys: K "pixels" (B, c, K, 1)
        return self.fuse(torch.cat([a, f], dim=1)), {"regions": logits}

    def forward(self, x: Tensor, levels: Mapping[str, Tensor]) -> Tensor:
        return self.forward_with_sides(x, levels)[0]
