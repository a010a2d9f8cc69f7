"""Attention normalisers: scores (..., Nk) → weights (..., Nk), applied over the keys (last dim)."""

from __future__ import annotations

from torch import Tensor, nn

from segfw.registry import Registry

NORMALIZERS = Registry("attention normalizer")


@NORMALIZERS.register("softmax")
class SoftmaxOverKeys(nn.Module):
    """w_ij = exp(s_ij) / Σ_j' exp(s_ij'): each query's weights are positive and sum to 1."""

    def forward(self, scores: Tensor) -> Tensor:
        return scores.softmax(dim=-1)


@NORMALIZERS.register("sigmoid")
class SigmoidGates(nn.Module):
    """w_ij = σ(s_ij): each key is gated independently (weights need not sum to 1)."""

    def forward(self, scores: Tensor) -> Tensor:
        return scores.sigmoid()
