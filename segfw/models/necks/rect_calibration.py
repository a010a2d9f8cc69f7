"""CGRSeg's rectangular self-calibration module, RCM (Ni et al., "Context-Guided Spatial Feature
Reconstruction for Efficient Semantic Segmentation", ECCV 2024)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.models.layout_mean import spatial_mean
from segfw.registry import NECKS


@NECKS.register("rect_calibration")
class RectCalibration(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``, a MetaNeXt block with rectangular self-calibration attention::

        g[c, i, j] = mean_j' x[c, i, j'] + mean_i' x[c, i', j]             row + column strips, (B, C, H, W)
        a = σ(V_k(ReLU(BN(H_k(g)))))            H_k: 1×k conv C → C/r, V_k: k×1 conv C/r → C (groups C/r, bias)
        y = BN(a ⊙ D_s(x))                      D_s: depthwise s×s conv (bias)
        out = x + γ ⊙ W_2(GELU(W_1 y))          W_1: 1×1 C → ρC, W_2: 1×1 ρC → C (bias); γ (C,) layer scale

    k = ``band_kernel_size``, s = ``square_kernel_size`` (odd), r = ``ratio``, ρ = ``mlp_ratio``, γ starts at
    ``layer_scale``. The band convs run along W first, then along H (after the ReLU), so the module is not
    symmetric in H and W. Cost O(H·W·C·(k + s² + ρC)).
    """

    def __init__(self, in_channels: int, band_kernel_size: int = 11, square_kernel_size: int = 3, ratio: int = 1,
                 mlp_ratio: float = 2.0, layer_scale: float = 1e-6):
        super().__init__()
        if square_kernel_size % 2 == 0 or band_kernel_size % 2 == 0:
            raise ConfigError(f"rect_calibration: band_kernel_size ({band_kernel_size}) and square_kernel_size "
                              f"({square_kernel_size}) must be odd, or the map size changes")
        if in_channels % ratio:
            raise ConfigError(f"rect_calibration: ratio {ratio} must divide in_channels {in_channels}")
        band, groups, hidden = band_kernel_size, in_channels // ratio, int(mlp_ratio * in_channels)
        self.local = nn.Conv2d(in_channels, in_channels, square_kernel_size, padding=square_kernel_size // 2,
                               groups=in_channels)
        self.excite_h = nn.Conv2d(in_channels, groups, (1, band), padding=(0, band // 2), groups=groups)
        self.excite_norm = nn.BatchNorm2d(groups)
        self.excite_v = nn.Conv2d(groups, in_channels, (band, 1), padding=(band // 2, 0), groups=groups)
        self.norm = nn.BatchNorm2d(in_channels)
        self.mlp_in = nn.Conv2d(in_channels, hidden, 1)
        self.mlp_out = nn.Conv2d(hidden, in_channels, 1)
        self.gamma = nn.Parameter(torch.full((in_channels,), float(layer_scale)))

    def forward(self, x: Tensor) -> Tensor:
        gathered = spatial_mean(x, (3,)) + spatial_mean(x, (2,))  # (B, C, H, 1) + (B, C, 1, W)
        attention = torch.sigmoid(self.excite_v(F.relu(self.excite_norm(self.excite_h(gathered)))))
        y = self.norm(attention * self.local(x))
        return x + self.gamma[:, None, None] * self.mlp_out(F.gelu(self.mlp_in(y)))
