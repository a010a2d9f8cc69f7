"""Attention scores: how well each query matches each key.

Every score is an ``nn.Module`` mapping queries (B, Nq, d) and keys (B, Nk, d) to scores
(B, Nq, Nk), ``s[b, i, j] = score(q_i, k_j)``. ``sdpa_scale`` is the factor with which
``torch.nn.functional.scaled_dot_product_attention`` reproduces the score (None: it cannot).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from segfw.registry import SCORES


class Score(nn.Module):
    """Base of all scores: ``forward(query (B, Nq, d), key (B, Nk, d)) -> (B, Nq, Nk)``."""

    sdpa_scale: float | None = None

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim


@SCORES.register("dot")
class DotScore(Score):
    """s_ij = k_jᵀ q_i (as in the non-local block, CCNet and DANet)."""

    sdpa_scale = 1.0

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        return query @ key.transpose(-1, -2)


@SCORES.register("scaled_dot")
class ScaledDotScore(Score):
    """s_ij = k_jᵀ q_i / √d (Vaswani et al. 2017)."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.sdpa_scale = dim**-0.5

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        return (query @ key.transpose(-1, -2)) * self.sdpa_scale


@SCORES.register("additive")
class AdditiveScore(Score):
    """s_ij = vᵀ tanh(W k_j + U q_i) (Bahdanau et al. 2015); W, U: (d_hidden, d), v: (d_hidden,).

    The pairwise tensor tanh(W k_j + U q_i) is (B, Nq, Nk, d_hidden). It is built for a block of
    queries at a time, at most ``chunk_elements`` entries, and under autograd each block is
    recomputed in backward (activation checkpointing), so memory stays at one block however large
    Nq·Nk is.
    """

    def __init__(self, dim: int, hidden_dim: int | None = None, chunk_elements: int = 2**23):
        super().__init__(dim)
        hidden_dim = hidden_dim or dim
        self.key_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.query_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.v = nn.Parameter(torch.randn(hidden_dim) * hidden_dim**-0.5)
        self.chunk_elements = chunk_elements

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        uq, wk = self.query_proj(query), self.key_proj(key)  # (B, Nq, h), (B, Nk, h)
        batch, n_query, hidden = uq.shape
        block = max(1, self.chunk_elements // max(1, batch * wk.shape[1] * hidden))
        if block >= n_query:
            return self._pairwise(uq, wk)
        recompute = torch.is_grad_enabled() and not torch.onnx.is_in_onnx_export()
        blocks = []
        for start in range(0, n_query, block):
            uq_block = uq[:, start : start + block]
            if recompute:
                blocks.append(checkpoint(self._pairwise, uq_block, wk, use_reentrant=False))
            else:
                blocks.append(self._pairwise(uq_block, wk))
        return torch.cat(blocks, dim=1)

    def _pairwise(self, uq: Tensor, wk: Tensor) -> Tensor:
        """(B, n, h), (B, Nk, h) → vᵀ tanh(uq_i + wk_j): (B, n, Nk)."""
        return torch.tanh(uq.unsqueeze(2) + wk.unsqueeze(1)) @ self.v


@SCORES.register("bilinear")
class BilinearScore(Score):
    """s_ij = k_jᵀ W q_i (Luong et al. 2015); W: (d, d), initialised to I/√d (= scaled dot)."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.weight = nn.Parameter(torch.eye(dim) * dim**-0.5)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        return (query @ self.weight.T) @ key.transpose(-1, -2)


@SCORES.register("cosine")
class CosineScore(Score):
    """s_ij = cos(k_j, q_i) / τ with a learnable temperature τ = exp(log_tau) > 0."""

    def __init__(self, dim: int, temperature: float = 0.1):
        super().__init__(dim)
        self.log_tau = nn.Parameter(torch.tensor(float(temperature)).log())

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        cos = F.normalize(query, dim=-1) @ F.normalize(key, dim=-1).transpose(-1, -2)
        return cos / self.log_tau.exp()
