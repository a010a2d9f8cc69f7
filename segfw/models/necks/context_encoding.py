"""Context encoding (Zhang et al., "Context Encoding for Semantic Segmentation", CVPR 2018)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS


@NECKS.register("context_encoding")
class ContextEncoding(nn.Module):
    """EncNet's context module (mmseg's ``EncHead`` without its classifiers).

    ``forward(x (B, C, H, W)) -> (B, c, H, W)``; ``forward_with_sides(x)`` also returns
    ``{"encoding": e (B, c, 1, 1)}``, which :class:`LevelNeck` publishes as ``<level>_encoding``
    for the SE head (a classifier of the classes present, trained with ``class_presence``)::

        f = CBR_3×3(x)                             C → c (``channels``; None: c = C)
        u = CBR_1×1(f)                              (B, c, N), N = H·W pixels
        a_nk = softmax_k(s_k ‖u_n − d_k‖²)          K = ``num_codes`` codewords d_k (c,), smoothing s_k
        E_k = Σ_n a_nk (u_n − d_k)                  (B, K, c): the encoding layer
        e = mean_k relu(BN1d_K(E))_k                (B, c)
        γ = σ(W e + b)                              (B, c): channel gates
        out = relu(f + f · γ)

    Initialised as mmseg: d ~ U(±1/√(K·c)), s ~ U(−1, 0). Cost O(N·K·c).
    """

    def __init__(self, in_channels: int, channels: int | None = None, num_codes: int = 32):
        super().__init__()
        channels = channels or in_channels
        self.bottleneck = ConvBNReLU(in_channels, channels)
        self.project = ConvBNReLU(channels, channels, kernel_size=1)
        std = 1.0 / (num_codes * channels) ** 0.5
        self.codewords = nn.Parameter(torch.empty(num_codes, channels).uniform_(-std, std))
        self.scale = nn.Parameter(torch.empty(num_codes).uniform_(-1, 0))
        self.norm = nn.BatchNorm1d(num_codes)
        self.fc = nn.Linear(channels, channels)
        self.out_channels = channels
        self.side_channels = {"encoding": channels}

    def encode(self, u: Tensor) -> Tensor:
        """(B, c, H, W) → E (B, K, c)."""
        u = u.flatten(2).transpose(1, 2)  # (B, N, c)
        residuals = u[:, :, None] - self.codewords  # (B, N, K, c)
        weights = torch.softmax(self.scale * residuals.pow(2).sum(-1), dim=2)  # (B, N, K)
        return torch.einsum("bnk,bnkc->bkc", weights, residuals)

    def forward_with_sides(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        f = self.bottleneck(x)
        e = torch.relu(self.norm(self.encode(self.project(f)))).mean(dim=1)  # (B, c)
        gamma = torch.sigmoid(self.fc(e))[:, :, None, None]
        return torch.relu(f + f * gamma), {"encoding": e[:, :, None, None]}

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_sides(x)[0]
