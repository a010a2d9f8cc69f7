"""disentangled_non_local, asymmetric_non_local, adaptive_context and dynamic_filters against float64
references written from their formulas (odd, non-square sizes), and gradient checks."""

from __future__ import annotations

import math

import pytest
import torch

from segfw.models.necks.disentangled_non_local import DisentangledNonLocal


def perturbed(block):
    """Every parameter moved (zero-initialised BN scales and convs included) and BN statistics random, eval mode."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        for m in block.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen, dtype=m.running_mean.dtype))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen, dtype=m.running_var.dtype) + 0.5)
    return block.eval()


def conv1x1(conv, x):
    """A 1×1 conv of (B, C, N) pixels, written out: (B, C', N)."""
    out = torch.einsum("oc,bcn->bon", conv.weight[:, :, 0, 0], x)
    return out if conv.bias is None else out + conv.bias[None, :, None]


def batch_norm(bn, x):
    """Eval-mode BN of (B, C, ...), written out."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps) * bn.weight.view(shape) \
        + bn.bias.view(shape)


def dnl_reference(block, x):
    b, c, h, w = x.shape
    px = x.flatten(2)  # (B, C, N)
    theta = conv1x1(block.attention.query, px)
    phi = conv1x1(block.attention.key, px)
    g = conv1x1(block.attention.value, px)
    d = theta.shape[1]
    theta = theta - theta.mean(-1, keepdim=True)
    phi = phi - phi.mean(-1, keepdim=True)
    scores = torch.einsum("bci,bcj->bij", theta, phi) / math.sqrt(d) / block.temperature  # (B, N, N)
    y = torch.einsum("bij,bcj->bci", torch.softmax(scores, -1), g)
    unary = (torch.softmax(conv1x1(block.mask, px)[:, 0], -1)[:, None] * g).sum(-1, keepdim=True)  # (B, d, 1)
    conv, bn = block.project[0], block.project[1]
    z = batch_norm(bn, conv1x1(conv, y + unary))
    return x + z.view(b, c, h, w)


def test_disentangled_non_local_equals_its_formula():
    torch.manual_seed(0)
    block = perturbed(DisentangledNonLocal(16, reduction=2, temperature=0.3).double())
    x = torch.randn(2, 16, 13, 21, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), dnl_reference(block, x), rtol=1e-10, atol=1e-10)


def test_disentangled_non_local_starts_as_the_identity_and_gradchecks():
    x = torch.randn(1, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    block = DisentangledNonLocal(4, reduction=2, temperature=0.5).double()
    torch.testing.assert_close(block.eval()(x), x)  # W_z's BN scale starts at 0
    assert torch.autograd.gradcheck(perturbed(block), (x,), fast_mode=True)


def conv_bn(seq, x, relu=True):
    """A 1×1 ConvBNReLU (``seq``: conv, BN[, ReLU]) of (B, C, N) pixels, written out."""
    y = batch_norm(seq[1], conv1x1(seq[0], x))
    return y.clamp_min(0) if relu else y


def pyramid_cells(x, scales):
    """Adaptive average pooling to s×s cells for every s, written from the bin rule: cell (i, j) of s averages
    rows ⌊iH/s⌋ … ⌈(i+1)H/s⌉ − 1 and columns alike. (B, C, H, W) → (B, C, Σ s²)."""
    h, w = x.shape[-2:]
    cells = []
    for s in scales:
        for i in range(s):
            for j in range(s):
                rows = slice(i * h // s, -(-(i + 1) * h // s))
                cols = slice(j * w // s, -(-(j + 1) * w // s))
                cells.append(x[:, :, rows, cols].mean(dim=(2, 3)))
    return torch.stack(cells, dim=2)


def pyramid_attention_reference(block, query, key):
    b, _, h, w = query.shape
    q = conv_bn(block.query, query.flatten(2))  # (B, d, N)
    k = pyramid_cells(conv_bn(block.key, key.flatten(2)).view(b, -1, *key.shape[-2:]), block.pool_scales)
    v = pyramid_cells(conv1x1(block.value, key.flatten(2)).view(b, -1, *key.shape[-2:]), block.pool_scales)
    weights = torch.softmax(torch.einsum("bdn,bds->bns", q, k) / math.sqrt(q.shape[1]), dim=-1)
    return conv1x1(block.out, torch.einsum("bns,bds->bdn", weights, v)).view(b, -1, h, w)


def ann_reference(block, x, context):
    b, _, h, w = x.shape
    f = torch.cat([pyramid_attention_reference(block.fusion, x, context), x], 1).flatten(2)
    f = conv_bn(block.fusion_project, f, relu=False).view(b, -1, h, w)
    f = block.reduce(f)  # a 3×3 ConvBNReLU, as in every head (tested with the heads)
    y = torch.cat([pyramid_attention_reference(block.context, f, f), f], 1).flatten(2)
    return conv_bn(block.context_project, y).view(b, -1, h, w)


def test_asymmetric_non_local_equals_its_formula():
    from segfw.models.necks.asymmetric_non_local import AsymmetricNonLocal

    torch.manual_seed(0)
    block = perturbed(AsymmetricNonLocal(12, 8, channels=10, key_channels=6, pool_scales=(1, 3, 6, 8)).double())
    assert block.context.query is block.context.key and block.fusion.query is not block.fusion.key  # APNB shares
    x = torch.randn(2, 12, 13, 21, dtype=torch.float64)
    context = torch.randn(2, 8, 11, 17, dtype=torch.float64)  # another size: its keys are pooled
    with torch.no_grad():
        torch.testing.assert_close(block(x, context), ann_reference(block, x, context), rtol=1e-10, atol=1e-10)


def test_asymmetric_non_local_gradchecks():
    from segfw.models.necks.asymmetric_non_local import AsymmetricNonLocal

    block = perturbed(AsymmetricNonLocal(4, 3, channels=4, key_channels=2, pool_scales=(1, 2)).double())
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    context = torch.randn(2, 3, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x, context), fast_mode=True)


def acm_reference(acm, x):
    b, _, h, w = x.shape
    regions = conv_bn(acm.pooled_reduce, pyramid_cells(x, [acm.scale]))  # (B, c, s²)
    f = conv_bn(acm.reduce, x.flatten(2))  # (B, c, N)
    glob = conv_bn(acm.global_info, f.mean(-1, keepdim=True))  # (B, c, 1)
    affinity = torch.sigmoid(conv1x1(acm.affinity, f + glob))  # (B, s², N)
    z = torch.einsum("bcs,bsn->bcn", regions, affinity)
    z = (conv_bn(acm.residual, z) + f).clamp_min(0)
    if acm.fusion is not None:
        z = conv_bn(acm.fusion, z)
    return z.view(b, -1, h, w)


@pytest.mark.parametrize("fusion", [True, False])
def test_adaptive_context_equals_its_formula(fusion):
    from segfw.models.necks.adaptive_context import AdaptiveContext

    torch.manual_seed(0)
    block = perturbed(AdaptiveContext(12, channels=5, scales=(1, 2, 3, 6), fusion=fusion).double())
    x = torch.randn(2, 12, 13, 21, dtype=torch.float64)
    expected = torch.cat([x, *(acm_reference(acm, x) for acm in block.acms)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-10)


def dcm_reference(dcm, x):
    b, _, h, w = x.shape
    k = dcm.filter_size
    filters = conv1x1(dcm.filter_gen, pyramid_cells(x, [k])).view(b, -1, k, k)  # (B, c, k, k)
    f = conv_bn(dcm.reduce, x.flatten(2)).view(b, -1, h, w)
    top = (k - 1) // 2 + (k - 1) % 2  # rows / columns of zeros before the map (even k: one more)
    y = torch.zeros_like(f)
    for i in range(k):  # tap by tap: y[p] = Σ_t w[t] · f[p + t − top], zero outside the map
        for j in range(k):
            di, dj = i - top, j - top
            src = f[:, :, max(di, 0):h + min(di, 0), max(dj, 0):w + min(dj, 0)]
            y[:, :, max(-di, 0):h - max(di, 0), max(-dj, 0):w - max(dj, 0)] += filters[:, :, i, j, None, None] * src
    y = batch_norm(dcm.norm, y).clamp_min(0)
    if dcm.fusion is not None:
        y = conv_bn(dcm.fusion, y.flatten(2)).view(b, -1, h, w)
    return y


@pytest.mark.parametrize("fusion", [False, True])
def test_dynamic_filters_equals_its_formula(fusion):
    from segfw.models.necks.dynamic_filters import DynamicFilters

    torch.manual_seed(0)
    block = perturbed(DynamicFilters(12, channels=5, filter_sizes=(1, 2, 3, 4, 7), fusion=fusion).double())
    x = torch.randn(2, 12, 13, 21, dtype=torch.float64)
    expected = torch.cat([x, *(dcm_reference(dcm, x) for dcm in block.dcms)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-10)


def test_adaptive_context_and_dynamic_filters_gradcheck():
    from segfw.models.necks.adaptive_context import AdaptiveContext
    from segfw.models.necks.dynamic_filters import DynamicFilters

    x = torch.randn(2, 4, 5, 7, dtype=torch.float64, requires_grad=True)
    for block in (AdaptiveContext(4, channels=2, scales=(1, 3)), DynamicFilters(4, channels=2, filter_sizes=(2, 3))):
        assert torch.autograd.gradcheck(perturbed(block.double()), (x,), fast_mode=True)
