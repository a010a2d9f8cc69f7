"""Interlaced sparse self-attention (Huang et al., "Interlaced Sparse Self-Attention for Semantic Segmentation", 2019)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.attention import reduced_channels
from segfw.models.attention.projected_attention import ProjectedAttention
from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS


class GroupAttention(nn.Module):
    """Self-attention inside groups of pixels, then a 1×1 ConvBNReLU.

    ``forward(x (N, C, h, w)) -> (N, C, h, w)``: every pixel of one of the N maps attends to every
    pixel of the same map (:class:`ProjectedAttention` with plain values, d = ``channels``).
    """

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.attention = ProjectedAttention(in_channels, channels, in_channels)
        self.project = ConvBNReLU(in_channels, in_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.attention(x, x))


@NECKS.register("interlaced_sparse_attention")
class InterlacedSparseAttention(nn.Module):
    """ISANet's context module. ``forward(x (B, C, H, W)) -> (B, channels, H, W)``::

        r = CBR_3×3(x)                                  C → c (``channels``; None: c = C)
        r is zero-padded (split evenly, the extra row/column last) to H' × W', multiples of
        the group size P_h × P_w; pixel (g_h·P_h + l_h, g_w·P_w + l_w) has global index g, local index l
        y = global(r):  attention among the pixels of equal l   (H'/P_h · W'/P_w pixels, P_h·P_w groups)
        y = local(y):   attention among the pixels of equal g   (P_h·P_w pixels, H'/P_h · W'/P_w groups)
        out = CBR_1×1(concat[y cropped to H × W, r])    2c → c

    global / local: :class:`GroupAttention` with keys/queries of width d = c / ``reduction``. The two
    sparse steps connect every pair of pixels at cost O(H·W·(H·W/(P_h P_w) + P_h P_w)·d) instead of
    O((H·W)²·d). Padded pixels take part as keys (zeros before the projections), as in mmseg's ``ISAHead``.
    """

    def __init__(self, in_channels: int, channels: int | None = None, reduction: int = 2,
                 group_size: tuple[int, int] = (8, 8)):
        super().__init__()
        channels = channels or in_channels
        key_channels = reduced_channels(channels, reduction)
        self.group_size = tuple(group_size)
        self.reduce = ConvBNReLU(in_channels, channels)
        self.global_relation = GroupAttention(channels, key_channels)
        self.local_relation = GroupAttention(channels, key_channels)
        self.fuse = ConvBNReLU(2 * channels, channels, kernel_size=1)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        r = self.reduce(x)
        n, c, h, w = r.shape
        ph, pw = self.group_size
        gh, gw = math.ceil(h / ph), math.ceil(w / pw)
        pad_h, pad_w = gh * ph - h, gw * pw - w
        y = F.pad(r, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        y = y.view(n, c, gh, ph, gw, pw).permute(0, 3, 5, 1, 2, 4).reshape(-1, c, gh, gw)
        y = self.global_relation(y)
        y = y.view(n, ph, pw, c, gh, gw).permute(0, 4, 5, 3, 1, 2).reshape(-1, c, ph, pw)
        y = self.local_relation(y)
        y = y.view(n, gh, gw, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, gh * ph, gw * pw)
        y = y[:, :, pad_h // 2:pad_h // 2 + h, pad_w // 2:pad_w // 2 + w]
        return self.fuse(torch.cat([y, r], dim=1))
