"""Coordinate attention (Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.layout_mean import spatial_mean
from segfw.registry import NECKS


@NECKS.register("coordinate_attention")
class CoordinateAttention(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``, a gate factorised into a row and a column attention::

        z_h[c, i] = mean_j x[c, i, j]   (B, C, H)      z_w[c, j] = mean_i x[c, i, j]   (B, C, W)
        [f_h, f_w] = h_swish(BN(W_1 [z_h, z_w]))        W_1: 1×1 conv C → m (bias), shared by both strips,
                                                        BN's statistics taken over the H + W positions together
        a_h = σ(W_h f_h)  (B, C, H, 1)     a_w = σ(W_w f_w)  (B, C, 1, W)      W_h, W_w: 1×1 convs m → C (bias)
        y = x ⊙ a_h ⊙ a_w

    m = max(``min_channels``, C // ``reduction``); h_swish(t) = t · ReLU6(t + 3) / 6. Cost O(H·W·C + (H + W)·C·m).
    Symmetric in H and W up to the two output convs: a transposed map gives the transposed output once W_h and
    W_w are swapped. The paper puts it inside the backbone's blocks (MobileNetV2's inverted residuals); here it
    is a context module after the backbone.
    """

    def __init__(self, in_channels: int, reduction: int = 32, min_channels: int = 8):
        super().__init__()
        mid = max(min_channels, in_channels // reduction)
        self.squeeze = nn.Conv2d(in_channels, mid, 1)
        self.norm = nn.BatchNorm2d(mid)
        self.excite_h = nn.Conv2d(mid, in_channels, 1)
        self.excite_w = nn.Conv2d(mid, in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        strips = torch.cat([spatial_mean(x, (3,)), spatial_mean(x, (2,)).transpose(2, 3)], dim=2)  # (B, C, H + W, 1)
        f_h, f_w = F.hardswish(self.norm(self.squeeze(strips))).split([height, width], dim=2)
        return x * torch.sigmoid(self.excite_h(f_h)) * torch.sigmoid(self.excite_w(f_w.transpose(2, 3)))
