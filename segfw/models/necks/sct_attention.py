"""SCTNet's conv-former block (Xu et al., "SCTNet: Single-Branch CNN with Transformer Semantic Information for
Real-Time Segmentation", AAAI 2024): convolutional attention with learnable 7×1 and 1×7 kernels, then an MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.registry import NECKS

KERNEL = 7  # the official strip kernels' length


@NECKS.register("sct_attention")
class SCTAttentionBlock(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``::

        u = BN(x)
        a_V = N(K_V ⋆ u)     K_V: (m, C, 7, 1) learned "keys", zero padding 3 along H     (B, m, H, W)
        a_H = N(K_H ⋆ u)     K_H: (m, C, 1, 7), zero padding 3 along W
        N(t): per head (m/h channels) softmax over the H·W positions, then t / (Σ_{head's channels} t + 1e-6)
        z = x + K_Vᵀ ⋆ a_V + K_Hᵀ ⋆ a_H        the same kernels as "values": (C, m, 7, 1) and (C, m, 1, 7)
        y = z + W_2 ⋆ GELU(W_1 ⋆ BN_ε(z))      W_1, W_2: 3×3 convs C → C (bias); BN_ε with ε = 1e-6

    m = ``inter_channels``, h = ``heads``. The key/value kernels are shared across the batch (no pixel-to-pixel
    products): cost O(H·W·C·m·7) for the attention, O(H·W·C²·9) for the MLP. Symmetric in H and W once K_V and
    K_H are swapped (and transposed) and the MLP's 3×3 kernels transposed. The paper puts these blocks in the
    backbone's last stages (SCTNet's CNN branch); here one is a context module after any backbone.
    """

    def __init__(self, in_channels: int, inter_channels: int = 64, heads: int = 8):
        super().__init__()
        if inter_channels % heads:
            raise ConfigError(f"sct_attention: heads ({heads}) must divide inter_channels ({inter_channels})")
        self.heads = heads
        self.norm = nn.BatchNorm2d(in_channels)
        self.kernel_v = nn.Parameter(torch.empty(inter_channels, in_channels, KERNEL, 1))
        self.kernel_h = nn.Parameter(torch.empty(inter_channels, in_channels, 1, KERNEL))
        for kernel in (self.kernel_v, self.kernel_h):
            nn.init.trunc_normal_(kernel, std=0.001, a=-2.0, b=2.0)
        self.mlp_norm = nn.BatchNorm2d(in_channels, eps=1e-6)
        self.mlp_in = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.mlp_out = nn.Conv2d(in_channels, in_channels, 3, padding=1)

    def _normalize(self, t: Tensor) -> Tensor:
        heads = t.unflatten(1, (self.heads, -1)).flatten(3)  # (B, h, m/h, H·W)
        heads = torch.softmax(heads, dim=3)
        return (heads / (heads.sum(dim=2, keepdim=True) + 1e-6)).reshape(t.shape)

    def forward(self, x: Tensor) -> Tensor:
        u = self.norm(x)
        pad_v, pad_h = (KERNEL // 2, 0), (0, KERNEL // 2)
        along_h = F.conv2d(self._normalize(F.conv2d(u, self.kernel_v, padding=pad_v)), self.kernel_v.transpose(0, 1),
                           padding=pad_v)
        along_w = F.conv2d(self._normalize(F.conv2d(u, self.kernel_h, padding=pad_h)), self.kernel_h.transpose(0, 1),
                           padding=pad_h)
        z = x + along_h + along_w
        return z + self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(z))))
