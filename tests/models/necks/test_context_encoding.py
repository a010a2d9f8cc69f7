"""EncNet's context_encoding neck against a slow float64 reference written from its formula (loops over
pixels and codewords, an odd non-square map) and a gradient check."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

import attention_reference as ref
import segfw


def cbr(block, x: Tensor) -> Tensor:
    conv, bn = block[0], block[1]
    return ref.batch_norm(bn, F.conv2d(x, conv.weight, None, conv.stride, conv.padding)).clamp_min(0)


def encoding_reference(neck, x: Tensor) -> tuple[Tensor, Tensor]:
    f = cbr(neck.bottleneck, x)
    u = cbr(neck.project, f)
    b, c, h, w = u.shape
    d, s = neck.codewords, neck.scale
    k = d.shape[0]
    e = u.new_zeros(b, k, c)
    for i in range(b):
        for n in range(h * w):
            un = u[i, :, n // w, n % w]
            logits = torch.stack([s[j] * ((un - d[j]) ** 2).sum() for j in range(k)])
            a = torch.exp(logits - logits.max())
            a = a / a.sum()
            for j in range(k):
                e[i, j] += a[j] * (un - d[j])
    bn = neck.norm  # BN1d over the K codes, eval mode: (E - mean) / sqrt(var + eps) · γ + β per code
    e = (e - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps) * bn.weight[:, None] + bn.bias[:, None]
    pooled = e.clamp_min(0).mean(dim=1)  # (B, c)
    gamma = 1 / (1 + torch.exp(-(pooled @ neck.fc.weight.T + neck.fc.bias)))
    return (f + f * gamma[:, :, None, None]).clamp_min(0), pooled


def build(in_channels: int, **kwargs):
    neck = ref.randomize(segfw.NECKS.build({"name": "context_encoding", **kwargs}, in_channels=in_channels))
    with torch.no_grad():  # BN1d: randomize() covers BatchNorm2d only
        neck.norm.running_mean.normal_()
        neck.norm.running_var.uniform_(0.5, 1.5)
    return neck


def test_context_encoding_matches_reference_and_publishes_the_encoding():
    neck = build(6, channels=5, num_codes=4)
    x = torch.randn(2, 6, 7, 9, dtype=torch.float64)
    out, sides = neck.forward_with_sides(x)
    expected, encoding = encoding_reference(neck, x)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(sides["encoding"], encoding[:, :, None, None], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(neck(x), out)


def test_context_encoding_gradients():
    neck = build(3, channels=4, num_codes=3)
    x = torch.randn(2, 3, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: neck.forward_with_sides(t)[1]["encoding"], (x,), fast_mode=True)
    assert torch.autograd.gradcheck(neck, (x,), fast_mode=True)
