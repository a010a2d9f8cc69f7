"""The context modules of ISANet, EMANet, PSANet, EncNet and OCRNet against slow float64 references
written from their formulas (odd map sizes), plus gradient checks on tiny maps.

Convolutions come from ``torch.nn.functional``; what makes each module (grouping, attention, EM
iterations, the point-wise mask, the encoding, the region gathering) is spelled out here with loops.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import attention_reference as ref
import segfw

torch.set_default_dtype(torch.float32)


def cbr(block: nn.Sequential, x: Tensor, relu: bool = True) -> Tensor:
    """A ConvBNReLU (conv, BN, optional ReLU) from its parts: F.conv2d, BN's formula, max(·, 0)."""
    conv, bn = block[0], block[1]
    y = ref.batch_norm(bn, F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation))
    return y.clamp_min(0) if relu else y


def projected_attention(block: nn.Module, query: Tensor, key: Tensor) -> Tensor:
    """ProjectedAttention: two-layer 1×1 projections, softmax(q kᵀ/√d) v by loops over queries."""
    def pixels(t: Tensor) -> Tensor:
        return t.flatten(2).transpose(1, 2)

    q, k = cbr(block.query[1], cbr(block.query[0], query)), cbr(block.key[1], cbr(block.key[0], key))
    v = ref.conv1x1(block.value, key) if isinstance(block.value, nn.Conv2d) else cbr(block.value, key)
    y = ref.attention(block.attention, "scaled_dot", "softmax", pixels(q), pixels(k), pixels(v))
    y = y.transpose(1, 2).reshape(query.shape[0], -1, *query.shape[-2:])
    return y if isinstance(block.out, nn.Identity) else cbr(block.out, y)


def isa_reference(neck: nn.Module, x: Tensor) -> Tensor:
    r = cbr(neck.reduce, x)
    b, c, h, w = r.shape
    ph, pw = neck.group_size
    hh, ww = math.ceil(h / ph) * ph, math.ceil(w / pw) * pw
    top, left = (hh - h) // 2, (ww - w) // 2
    y = r.new_zeros(b, c, hh, ww)
    y[:, :, top:top + h, left:left + w] = r

    def relate(relation, y, groups):  # groups: lists of (row, col) pixels attending among themselves
        out = torch.empty_like(y)
        for pixels in groups:
            rows, cols = zip(*pixels)
            members = y[:, :, list(rows), list(cols)][..., None]  # (B, C, n, 1)
            out[:, :, list(rows), list(cols)] = cbr(relation.project, projected_attention(relation.attention, members, members))[..., 0]
        return out

    interlaced = [[(gi * ph + li, gj * pw + lj) for gi in range(hh // ph) for gj in range(ww // pw)]
                  for li in range(ph) for lj in range(pw)]
    local = [[(gi * ph + li, gj * pw + lj) for li in range(ph) for lj in range(pw)]
             for gi in range(hh // ph) for gj in range(ww // pw)]
    y = relate(neck.local_relation, relate(neck.global_relation, y, interlaced), local)
    return cbr(neck.fuse, torch.cat([y[:, :, top:top + h, left:left + w], r], dim=1))


def em_reference(neck: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """EM attention by explicit sums; returns the output and the momentum-updated bases (training)."""
    f = cbr(neck.reduce, x)
    b, e, h, w = f.shape
    u = ref.conv1x1(neck.mid, f).reshape(b, e, h * w)
    r, batch_bases = torch.empty_like(u), []
    for i in range(b):
        mu = neck.bases[0].clone()  # (e, K)
        for _ in range(neck.num_stages):
            logits = u[i].T @ mu  # (N, K)
            z = torch.exp(logits - logits.max(1, keepdim=True).values)
            z = z / z.sum(1, keepdim=True)
            mu = (u[i] @ z) / z.sum(0)  # Σ_n z_nk u_n / Σ_n z_nk
            mu = mu / mu.norm(dim=0)
        r[i] = mu @ z.T
        batch_bases.append(mu)
    y = (f + cbr(neck.reconstruct, r.clamp_min(0).reshape(b, e, h, w), relu=False)).clamp_min(0)
    y = cbr(neck.fuse, torch.cat([x, cbr(neck.project, y)], dim=1))
    mean = torch.stack(batch_bases).mean(0)
    return y, (1 - neck.momentum) * neck.bases + neck.momentum * (mean / mean.norm(dim=0))


def test_em_attention_matches_reference_and_updates_its_bases_in_training():
    neck = build("em_attention", 6, channels=8, out_channels=5, num_bases=4, num_stages=3, momentum=0.3)
    x = torch.randn(2, 6, 7, 9, dtype=torch.float64)
    expected, updated = em_reference(neck, x)
    torch.testing.assert_close(neck(x), expected, rtol=1e-9, atol=1e-9)
    before = neck.bases.clone()
    neck.train()
    for m in neck.modules():  # BN in eval so the output is comparable; only the bases update is tested
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    torch.testing.assert_close(neck(x), expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(neck.bases, updated, rtol=1e-9, atol=1e-9)
    assert not torch.equal(neck.bases, before)


def test_em_attention_gradients_outside_the_em_stage():
    """The EM stage runs without gradient (as in the paper's code and mmseg): the parameters after it get exact gradients."""
    neck = build("em_attention", 3, channels=4, num_bases=3, num_stages=2)
    x = torch.randn(1, 3, 3, 5, dtype=torch.float64)
    names, params = zip(*[(n, p) for n, p in neck.named_parameters() if n.startswith(("reconstruct", "project", "fuse"))])

    def run(*p):
        return torch.func.functional_call(neck, dict(zip(names, p)), (x,))

    assert torch.autograd.gradcheck(run, params, fast_mode=True)
    assert not any(p.requires_grad for p in neck.mid.parameters())


def build(name: str, in_channels: int, seed: int = 0, **kwargs) -> nn.Module:
    return ref.randomize(segfw.NECKS.build({"name": name, **kwargs}, in_channels=in_channels), seed)


def test_interlaced_sparse_attention_matches_reference_on_odd_maps():
    neck = build("interlaced_sparse_attention", 6, channels=8, reduction=2, group_size=(3, 4))
    x = torch.randn(2, 6, 7, 9, dtype=torch.float64)  # padded to 9 x 12: uneven padding on both axes
    torch.testing.assert_close(neck(x), isa_reference(neck, x), rtol=1e-9, atol=1e-9)


def test_interlaced_sparse_attention_gradients():
    neck = build("interlaced_sparse_attention", 3, channels=4, reduction=2, group_size=(2, 2))
    x = torch.randn(1, 3, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(neck, (x,), fast_mode=True)
