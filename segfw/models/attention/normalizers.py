"""Attention normalisers: scores (..., Nk) → weights (..., Nk), applied over the keys (last dim).

``forward(scores, num_keys=None)``: ``num_keys`` is the number of keys a query really sees when
some are masked with −∞ (criss-cross attention); normalisers that need it use it.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from segfw.registry import NORMALIZERS


@NORMALIZERS.register("softmax")
class SoftmaxOverKeys(nn.Module):
    """w_ij = exp(s_ij) / Σ_j' exp(s_ij'): each query's weights are positive and sum to 1."""

    def forward(self, scores: Tensor, num_keys: int | None = None) -> Tensor:
        return scores.softmax(dim=-1)


@NORMALIZERS.register("sigmoid")
class SigmoidGates(nn.Module):
    """w_ij = σ(s_ij − log Nk): each key is gated independently, with a bias of −log Nk.

    Without the bias, Σ_j σ(s_ij) v_j grows linearly with the number of keys Nk, so a crop and a
    whole image (or two feature-map sizes) see outputs of different scales. With it, a key of
    moderate score gets σ(s − log Nk) ≈ e^s / Nk, so the sum stays a mean-like quantity whose scale
    does not depend on Nk, while a key of high score can still take a weight near 1 (Ramapuram
    et al., "Theory, Analysis, and Best Practices for Sigmoid Self-Attention", 2024: b = −log n).
    Nk is ``num_keys`` when given (a caller that masks keys with −∞ passes the number it keeps),
    else the size of the key axis.
    """

    def forward(self, scores: Tensor, num_keys: int | None = None) -> Tensor:
        return (scores - math.log(num_keys or scores.shape[-1])).sigmoid()
