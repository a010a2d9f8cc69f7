"""Dual attention (Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segfw.models.attention import PixelSelfAttention, reduced_channels
from segfw.models.layers import ConvBNReLU
from segfw.errors import ConfigError
from segfw.registry import NECKS


class PositionAttention(nn.Module):
    """DANet's PAM, (B, C, H, W) → (B, C, H, W): y = x + γ Attention(W_q x, W_k x, W_v x) over all pixels.

    q, k: C / reduction channels, v: C channels; γ learnable from 0.
    """

    def __init__(self, channels: int, reduction: int, score: str, normalize: str, heads: int):
        super().__init__()
        if channels % heads:
            raise ConfigError(f"dual_attention: heads={heads} must divide the branch width {channels}; change 'heads'")
        dim = reduced_channels(channels, reduction, heads)
        self.attention = PixelSelfAttention(channels, dim, channels, score, normalize, heads)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.gamma * self.attention(x)


class ChannelAttention(nn.Module):
    """DANet's CAM, (B, C, H, W) → (B, C, H, W): channels attend to channels.

    With X = x read as (B, C, H·W): E = X Xᵀ (B, C, C); A = softmax_c'(max_c'' E_cc'' − E_cc')
    (the official code's max-minus-energy form); y = x + γ A X, γ learnable from 0.
    """

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(2)
        energy = flat @ flat.transpose(1, 2)
        weights = (energy.amax(dim=-1, keepdim=True) - energy).softmax(dim=-1)
        return x + self.gamma * (weights @ flat).view_as(x)


@NECKS.register("dual_attention")
class DualAttention(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C / branch_reduction, H, W)``: position + channel attention.

    As mmseg's ``DAHead`` (and the official code) without its classifiers: each branch is a 3×3
    ConvBNReLU C → c (c = C / branch_reduction, 512 for c5 of a ResNet-50), then PAM (resp. CAM),
    then a 3×3 ConvBNReLU c → c; the output is their sum. ``forward_with_sides`` also returns the
    two branch outputs, which the neck publishes as levels ``<level>_pam`` and ``<level>_cam`` for
    the PAM-only and CAM-only classifiers DANet trains with. ``score`` / ``normalize`` / ``heads``
    choose the PAM attention (dot + softmax: DANet's); CAM keeps its own softmax.
    Cost O((H·W)²·c).
    """

    def __init__(
        self,
        in_channels: int,
        branch_reduction: int = 4,
        reduction: int = 8,
        score: str = "dot",
        normalize: str = "softmax",
        heads: int = 1,
    ):
        super().__init__()
        inner = reduced_channels(in_channels, branch_reduction)
        self.position = nn.Sequential(
            ConvBNReLU(in_channels, inner),
            PositionAttention(inner, reduction, score, normalize, heads),
            ConvBNReLU(inner, inner),
        )
        self.channel = nn.Sequential(ConvBNReLU(in_channels, inner), ChannelAttention(), ConvBNReLU(inner, inner))
        self.out_channels = inner
        self.side_channels = {"pam": inner, "cam": inner}

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_sides(x)[0]

    def forward_with_sides(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(fused (B, c, H, W), {"pam": position branch, "cam": channel branch})."""
        position, channel = self.position(x), self.channel(x)
        return position + channel, {"pam": position, "cam": channel}
