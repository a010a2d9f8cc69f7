"""Strip pooling module, SPM (Hou et al., "Strip Pooling", CVPR 2020, Fig. 2).

Each pixel is gated by what lies in its whole row and its whole column:

    y_h[c, i] = mean_j x[c, i, j]        (H×1 strip, one value per row)
    y_w[c, j] = mean_i x[c, i, j]        (1×W strip, one value per column)
    z = ReLU(BN(conv_3×1(y_h))[:, :, None] + BN(conv_1×3(y_w))[:, None, :])   broadcast to H×W
    out = x ⊙ sigmoid(conv_1×1(z))
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU
from segfw.models.layout_mean import spatial_mean


class StripBranch(nn.Module):
    """Average over one spatial axis, a 3-tap conv + BN along the other, broadcast back.

    ``along="height"``: (B, C, H, W) → mean over W → (B, C, H, 1) → 3×1 conv + BN → (B, C', H, W).
    ``along="width"``:  (B, C, H, W) → mean over H → (B, C, 1, W) → 1×3 conv + BN → (B, C', H, W).
    The result is constant along the pooled axis (expanded, no interpolation).
    """

    def __init__(self, in_channels: int, out_channels: int, along: Literal["height", "width"]):
        super().__init__()
        if along not in ("height", "width"):
            raise ValueError(f"StripBranch along must be 'height' or 'width', got {along!r}")
        self.pooled_dim = 3 if along == "height" else 2
        kernel = (3, 1) if along == "height" else (1, 3)
        self.conv = ConvBNReLU(in_channels, out_channels, kernel, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        strip = self.conv(spatial_mean(x, (self.pooled_dim,)))
        return strip.expand(-1, -1, *x.shape[-2:])


class StripPooling(nn.Module):
    """SPM: (B, C, H, W) → (B, C, H, W), the input times a sigmoid gate from row and column strips.

    Used inside the residual blocks of a ResNet (``strip_pooling_stages``) and, registered as
    ``strip_pooling``, as a neck (:mod:`segfw.models.necks.strip_pooling`).
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.out_channels = in_channels
        self.rows = StripBranch(in_channels, in_channels, "height")
        self.columns = StripBranch(in_channels, in_channels, "width")
        self.gate = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        mixed = torch.relu(self.rows(x) + self.columns(x))
        return x * torch.sigmoid(self.gate(mixed))
