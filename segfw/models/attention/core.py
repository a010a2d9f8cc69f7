"""Three-stage attention: score → normalise → weighted sum of values, over one or several heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.attention.normalizers import NORMALIZERS
from segfw.models.attention.scores import SCORES
from segfw.errors import ConfigError


class Attention(nn.Module):
    """``forward(query (B, Nq, d), key (B, Nk, d), value (B, Nk, d_v)) -> (B, Nq, d_v)``.

    out_i = Σ_j w_ij v_j with w = normalize(score(q, k)). ``score`` is a name in ``SCORES``
    (dot, scaled_dot, additive, bilinear, cosine), ``normalize`` one in ``NORMALIZERS`` (softmax,
    sigmoid). With ``heads`` = h, d and d_v are split into h equal slices; each head has its own
    score module on d/h channels and aggregates its own d_v/h slice of the values.

    dot / scaled_dot with softmax run through ``F.scaled_dot_product_attention`` (fused, no
    (Nq, Nk) matrix kept on backends that support it); every other pair runs :meth:`explicit`.
    """

    def __init__(self, dim: int, score: str = "scaled_dot", normalize: str = "softmax", heads: int = 1):
        super().__init__()
        if heads < 1 or dim % heads:
            raise ConfigError(f"attention heads={heads} must divide the key/query dim {dim}; choose another 'heads'")
        self.heads = heads
        score_class = SCORES.get(score)
        self.scores = nn.ModuleList(score_class(dim // heads) for _ in range(heads))
        self.normalize = NORMALIZERS.get(normalize)()
        self.sdpa_scale = self.scores[0].sdpa_scale if normalize == "softmax" else None

    def forward(self, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        if self.sdpa_scale is None:
            return self.explicit(query, key, value)
        # contiguous: the fused CPU kernel needs unit stride along channels, else SDPA falls back to (Nq, Nk) math
        q, k, v = (self._split_heads(t.contiguous()) for t in (query, key, value))
        return self._merge_heads(F.scaled_dot_product_attention(q, k, v, scale=self.sdpa_scale))

    def explicit(self, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        """The same result as ``forward`` with the (B, h, Nq, Nk) weights built explicitly."""
        return self._merge_heads(self.weights(query, key) @ self._split_heads(value))

    def weights(self, query: Tensor, key: Tensor) -> Tensor:
        """Normalised attention weights (B, h, Nq, Nk)."""
        q, k = self._split_heads(query), self._split_heads(key)
        scores = torch.stack([score(q[:, i], k[:, i]) for i, score in enumerate(self.scores)], dim=1)
        return self.normalize(scores)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, N, c) → (B, h, N, c/h)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def _merge_heads(self, x: Tensor) -> Tensor:
        """(B, h, N, c/h) → (B, N, c)."""
        return x.transpose(1, 2).flatten(2)
