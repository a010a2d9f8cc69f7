"""Large separable kernel attention (Lau, Po, Rehman, "Large Separable Kernel Attention", 2023)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.registry import NECKS

KERNEL_SIZES = (7, 11, 23, 35, 41, 53)  # the official code's choices


def separable_depthwise(channels: int, length: int, dilation: int, along: str) -> nn.Conv2d:
    """Depthwise 1×length (``along="width"``) or length×1 (``along="height"``) conv, "same" zero padding."""
    pad = dilation * (length - 1) // 2
    kernel, padding = ((1, length), (0, pad)) if along == "width" else ((length, 1), (pad, 0))
    return nn.Conv2d(channels, channels, kernel, padding=padding, dilation=dilation, groups=channels)


@NECKS.register("lska")
class LargeSeparableKernelAttention(nn.Module):
    """VAN's attention sub-layer with LSKA as its gate. ``forward(x (B, C, H, W)) -> (B, C, H, W)``::

        u = GELU(W_in x)                                   W_in, W_out, W_mix: 1×1 convs C → C (with bias)
        a = W_mix(V_dil(H_dil(V_loc(H_loc(u)))))          depthwise convs, zero "same" padding:
                                                           H_loc 1×(2d−1), V_loc (2d−1)×1,
                                                           H_dil 1×⌊k/d⌋ and V_dil ⌊k/d⌋×1 with dilation d
        y = x + W_out(u ⊙ a)

    The four depthwise convs cover a k×k window (k = ``kernel_size``; d = 2 for k ≤ 11, else 3) with
    O(k) weights per channel instead of LKA's O(k²). Cost O(H·W·C·(C + k)). H_* act along W, V_* along H;
    the horizontal and vertical chains commute, so transposing the map with the H and V kernels swapped
    transposes the output (exactly when the depthwise biases are zero: zero padding makes a bias filtered by
    the other axis's convs vary at the borders).
    """

    def __init__(self, in_channels: int, kernel_size: int = 23):
        super().__init__()
        if kernel_size not in KERNEL_SIZES:
            raise ConfigError(f"lska: kernel_size {kernel_size} is not one of {list(KERNEL_SIZES)} (the paper's sizes)")
        dilation = 2 if kernel_size <= 11 else 3
        local, dilated = 2 * dilation - 1, kernel_size // dilation
        self.proj_in = nn.Conv2d(in_channels, in_channels, 1)
        self.local_h = separable_depthwise(in_channels, local, 1, "width")
        self.local_v = separable_depthwise(in_channels, local, 1, "height")
        self.dilated_h = separable_depthwise(in_channels, dilated, dilation, "width")
        self.dilated_v = separable_depthwise(in_channels, dilated, dilation, "height")
        self.mix = nn.Conv2d(in_channels, in_channels, 1)
        self.proj_out = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        u = F.gelu(self.proj_in(x))
        a = self.mix(self.dilated_v(self.dilated_h(self.local_v(self.local_h(u)))))
        return x + self.proj_out(u * a)
