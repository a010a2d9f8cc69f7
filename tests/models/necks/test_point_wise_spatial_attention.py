"""PSANet's point_wise_spatial_attention neck against a slow float64 reference written from its formula
(loops over the target pixels, odd non-square maps, a mask window smaller than the map so that offsets
outside it score 0), plus a gradient check on a tiny map."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import attention_reference as ref
import segfw


def cbr(block, x: Tensor, relu: bool = True) -> Tensor:
    conv, bn = block[0], block[1]
    y = ref.batch_norm(bn, F.conv2d(x, conv.weight, None, conv.stride, conv.padding))
    return y.clamp_min(0) if relu else y


def direction(branch, kind: str, r: Tensor, mask_size, softmax: bool) -> Tensor:
    """o[:, :, p] = Σ_j r[:, :, j] w_j(p); scores of j for target p: a_p[j − p] (collect), a_j[p − j] (distribute)."""
    a = F.conv2d(cbr(branch.attention[0], r), branch.attention[1].weight)  # (B, m_h·m_w, h, w)
    b, c, h, w = r.shape
    mh, mw = mask_size
    out = torch.zeros_like(r)
    for ph in range(h):
        for pw in range(w):
            scores = r.new_zeros(b, h, w)
            for jh in range(h):
                for jw in range(w):
                    (sh, sw), at = ((jh - ph, jw - pw), (ph, pw)) if kind == "collect" else ((ph - jh, pw - jw), (jh, jw))
                    dh, dw = sh + (mh - 1) // 2, sw + (mw - 1) // 2
                    if 0 <= dh < mh and 0 <= dw < mw:
                        scores[:, jh, jw] = a[:, dh * mw + dw, at[0], at[1]]
            weights = scores.flatten(1).softmax(dim=1) if softmax else scores.flatten(1)
            out[:, :, ph, pw] = (r.flatten(2) * weights[:, None]).sum(-1)
    return out


def psa_reference(neck, x: Tensor, shrink: int, softmax: bool) -> Tensor:
    h, w = x.shape[-2:]
    corners = bool(h % shrink and w % shrink)
    size = ((h - 1) // shrink + 1, (w - 1) // shrink + 1) if corners else (h // shrink, w // shrink)
    outs = []
    for kind, branch in zip(neck.kinds, neck.branches):
        r = F.interpolate(cbr(branch.reduce, x), size=size, mode="bilinear", align_corners=corners)
        outs.append(direction(branch, kind, r, neck.mask_size, softmax) / neck.normalization_factor)
    y = cbr(neck.proj, torch.cat(outs, dim=1))  # 1x1 conv with padding 1: (h'+2) x (w'+2)
    assert y.shape[-2:] == (size[0] + 2, size[1] + 2)
    y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=corners)
    return cbr(neck.bottleneck, torch.cat([x, y], dim=1))


def build(in_channels: int, seed: int = 0, **kwargs):
    return ref.randomize(segfw.NECKS.build({"name": "point_wise_spatial_attention", **kwargs}, in_channels=in_channels), seed)


@pytest.mark.parametrize(("psa_type", "size", "shrink", "softmax"), [
    ("bi-direction", (9, 13), 2, True),      # both odd: ceil sizes 5 x 7, align_corners
    ("collect", (8, 13), 2, True),           # one even: floor sizes 4 x 6, no align_corners
    ("distribute", (7, 9), 1, False),        # no shrink, no softmax
])
def test_point_wise_spatial_attention_matches_reference(psa_type, size, shrink, softmax):
    neck = build(6, channels=4, mask_size=(5, 9), psa_type=psa_type, shrink_factor=shrink,
                 normalization_factor=None, softmax=softmax)
    x = torch.randn(2, 6, *size, dtype=torch.float64)
    torch.testing.assert_close(neck(x), psa_reference(neck, x, shrink, softmax), rtol=1e-9, atol=1e-9)


def test_point_wise_spatial_attention_gradients():
    neck = build(3, channels=2, mask_size=(5, 5), shrink_factor=1)
    x = torch.randn(1, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(neck, (x,), fast_mode=True)


def test_a_mask_of_the_wrong_size_is_one_line():
    neck = segfw.NECKS.build({"name": "point_wise_spatial_attention", "mask_size": (3, 3)}, in_channels=4)
    neck.branches[0].attention[1] = torch.nn.Conv2d(4, 8, 1)
    with pytest.raises(segfw.ConfigError, match="mask_size 3x3 needs 9"):
        neck(torch.randn(1, 4, 4, 4))
