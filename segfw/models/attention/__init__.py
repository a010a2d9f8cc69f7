"""Attention in three stages — score, normalise, aggregate — and what the attention necks share.

Use it as a plain module::

    from segfw.models.attention import Attention
    attn = Attention(64, score="additive", normalize="sigmoid", heads=2)
    out = attn(query, key, value)   # (B, Nq, 64), (B, Nk, 64), (B, Nk, d_v) → (B, Nq, d_v)
"""

from segfw.models.attention.channels import reduced_channels
from segfw.models.attention.core import Attention
from segfw.models.attention.normalizers import NORMALIZERS
from segfw.models.attention.pixel_attention import PixelSelfAttention
from segfw.models.attention.scores import SCORES

__all__ = ["NORMALIZERS", "SCORES", "Attention", "PixelSelfAttention", "reduced_channels"]
