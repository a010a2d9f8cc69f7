"""Slow float64 references for the attention core and the attention necks, written from the formulas.

Each takes the module under test only to read its parameters; the arithmetic is spelled out here
with explicit loops over queries (and vectorised over the keys of one query).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Float64, eval mode, every parameter and BN statistic random (γ's and zero-init scales included)."""
    generator = torch.Generator().manual_seed(seed)
    module.double().eval()
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator, dtype=torch.float64))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator, dtype=torch.float64) + 0.5)
    return module


def score_row(score: nn.Module, name: str, q: Tensor, keys: Tensor) -> Tensor:
    """Scores of one query q (d,) against keys (n, d) → (n,), from each score's formula."""
    if name == "dot":
        return keys @ q
    if name == "scaled_dot":
        return keys @ q / math.sqrt(q.numel())
    if name == "additive":  # vᵀ tanh(W k + U q)
        return torch.tanh(keys @ score.key_proj.weight.T + score.query_proj.weight @ q) @ score.v
    if name == "bilinear":  # kᵀ W q
        return keys @ (score.weight @ q)
    if name == "cosine":  # cos(k, q) / τ
        return (keys @ q) / (keys.norm(dim=1) * q.norm()) / score.log_tau.exp()
    raise KeyError(name)


def normalize_row(name: str, scores: Tensor) -> Tensor:
    """Weights of one query's n scores: softmax, or sigmoid gates with the bias −log n."""
    if name == "softmax":
        e = torch.exp(scores - scores.max())
        return e / e.sum()
    if name == "sigmoid":
        return 1 / (1 + torch.exp(-(scores - math.log(scores.numel()))))
    raise KeyError(name)


def attention(core: nn.Module, score: str, normalize: str, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """Multi-head attention by loops: (B, Nq, d), (B, Nk, d), (B, Nk, d_v) → (B, Nq, d_v)."""
    heads = len(core.scores)
    dq, dv = query.shape[-1] // heads, value.shape[-1] // heads
    out = query.new_zeros(query.shape[0], query.shape[1], value.shape[-1])
    for b in range(query.shape[0]):
        for i in range(query.shape[1]):
            for h in range(heads):
                qs, vs = slice(h * dq, (h + 1) * dq), slice(h * dv, (h + 1) * dv)
                w = normalize_row(normalize, score_row(core.scores[h], score, query[b, i, qs], key[b, :, qs]))
                out[b, i, vs] = w @ value[b, :, vs]
    return out


def conv1x1(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """A 1×1 convolution written as a per-pixel matrix product, (B, C, H, W) → (B, C', H, W)."""
    out = torch.einsum("oc,bchw->bohw", conv.weight[:, :, 0, 0], x)
    return out if conv.bias is None else out + conv.bias[None, :, None, None]


def batch_norm(bn: nn.BatchNorm2d, x: Tensor) -> Tensor:
    """Eval-mode batch norm from its formula."""
    def per_channel(t: Tensor) -> Tensor:
        return t[None, :, None, None]

    return (x - per_channel(bn.running_mean)) / per_channel(bn.running_var + bn.eps).sqrt() * per_channel(
        bn.weight
    ) + per_channel(bn.bias)


def pixel_self_attention(block: nn.Module, score: str, normalize: str, x: Tensor) -> Tensor:
    """PixelSelfAttention by loops over pixels: (B, C, H, W) → (B, C_v, H, W)."""
    def pixels(t: Tensor) -> Tensor:
        return t.flatten(2).transpose(1, 2)

    q, k, v = (pixels(conv1x1(conv, x)) for conv in (block.query, block.key, block.value))
    out = attention(block.attention, score, normalize, q, k, v)
    return out.transpose(1, 2).reshape(x.shape[0], -1, *x.shape[-2:])
