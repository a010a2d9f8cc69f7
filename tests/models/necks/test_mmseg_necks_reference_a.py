"""global_context against a float64 reference written from its formula (odd sizes), and a gradient check."""

from __future__ import annotations

import pytest
import torch

from segfw.models.necks.global_context import GlobalContext


def transform_reference(seq, c):
    """W_2 ReLU(LN(W_1 c)) on (B, C) vectors, written out."""
    conv1, norm, conv2 = seq[0], seq[1], seq[3]
    h = c @ conv1.weight[:, :, 0, 0].T + conv1.bias
    mean, var = h.mean(-1, keepdim=True), h.var(-1, unbiased=False, keepdim=True)
    h = (h - mean) / torch.sqrt(var + norm.eps) * norm.weight.flatten() + norm.bias.flatten()
    return h.clamp_min(0) @ conv2.weight[:, :, 0, 0].T + conv2.bias


def global_context_reference(block, x):
    b, ch, height, width = x.shape
    pixels = x.flatten(2)  # (B, C, HW)
    if block.mask is None:
        c = pixels.mean(-1)
    else:
        logits = torch.einsum("c,bcn->bn", block.mask.weight.flatten(), pixels) + block.mask.bias
        c = torch.einsum("bn,bcn->bc", torch.softmax(logits, -1), pixels)
    out = x
    if block.mul is not None:
        out = out * torch.sigmoid(transform_reference(block.mul, c))[:, :, None, None]
    if block.add is not None:
        out = out + transform_reference(block.add, c)[:, :, None, None]
    return out


def perturbed(block):
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return block


@pytest.mark.parametrize("pooling, fusion", [("att", ["channel_add"]), ("avg", ["channel_mul"]),
                                             ("att", ["channel_add", "channel_mul"])])
def test_global_context_equals_its_formula(pooling, fusion):
    torch.manual_seed(0)
    block = perturbed(GlobalContext(16, 0.25, pooling, fusion).double())
    x = torch.randn(2, 16, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), global_context_reference(block, x), rtol=1e-10, atol=1e-10)


def test_global_context_starts_as_the_identity_and_gradchecks():
    x = torch.randn(2, 8, 5, 7, dtype=torch.float64, requires_grad=True)
    block = GlobalContext(8, 0.5, "att", ["channel_add", "channel_mul"]).double()
    torch.testing.assert_close(block(x), x * 0.5)  # σ(0) gate, zero add: both transforms start silent
    assert torch.autograd.gradcheck(perturbed(block), (x,))
