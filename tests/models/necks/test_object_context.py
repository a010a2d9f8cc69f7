"""OCRNet's object_context neck against a slow float64 reference written from its formula (loops over
regions and pixels, an odd non-square map), its region logits published for a side head, a gradient
check, and the side head that takes them (``{level: c5_regions}``) in a built segmentor."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import attention_reference as ref
import segfw
from segfw.models.feature_spec import FeatureSpec

SPECS = {"c4": FeatureSpec(5, 8), "c5": FeatureSpec(6, 8)}


def cbr(block, x: Tensor) -> Tensor:
    conv, bn = block[0], block[1]
    return ref.batch_norm(bn, F.conv2d(x, conv.weight, None, conv.stride, conv.padding)).clamp_min(0)


def softmax(v: Tensor) -> Tensor:
    e = torch.exp(v - v.max())
    return e / e.sum()


def object_context_reference(neck, x: Tensor, c4: Tensor) -> tuple[Tensor, Tensor]:
    regions = neck.regions
    z = F.conv2d(cbr(regions.convs[0], c4), regions.classifier[1].weight, regions.classifier[1].bias)  # (B, K, h, w)
    f = cbr(neck.bottleneck, x)
    b, c, h, w = f.shape
    k = z.shape[1]
    att = neck.attention
    q = cbr(att.query[1], cbr(att.query[0], f))  # (B, d, H, W)
    out = torch.empty_like(f)
    for i in range(b):
        descriptors = torch.stack([(softmax(z[i, j].flatten()) * f[i].flatten(1)).sum(-1) for j in range(k)], dim=1)
        r = descriptors[None, :, :, None]  # (1, c, K, 1): the K regions as a K x 1 "map"
        keys = cbr(att.key[1], cbr(att.key[0], r))[0, :, :, 0]  # (d, K)
        values = cbr(att.value, r)[0, :, :, 0]
        d = keys.shape[0]
        a = torch.empty(1, d, h, w, dtype=x.dtype)
        for n in range(h * w):
            qn = q[i, :, n // w, n % w]
            a[0, :, n // w, n % w] = values @ softmax(keys.T @ qn / math.sqrt(d))
        out[i] = cbr(neck.fuse, torch.cat([cbr(att.out, a), f[i:i + 1]], dim=1))[0]
    return out, z


def build(**kwargs):
    node = {"name": "object_context", "region_channels": 4, "channels": 7, "key_channels": 3, **kwargs}
    return ref.randomize(segfw.NECKS.build(node, in_channels=6, num_classes=4, in_specs=SPECS))


def test_object_context_matches_reference_and_publishes_the_region_logits():
    neck = build()
    assert neck.context_levels == ("c4",)
    x, c4 = torch.randn(2, 6, 7, 9, dtype=torch.float64), torch.randn(2, 5, 7, 9, dtype=torch.float64)
    out, sides = neck.forward_with_sides(x, {"c4": c4})
    expected, logits = object_context_reference(neck, x, c4)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(sides["regions"], logits, rtol=1e-9, atol=1e-9)


def test_object_context_gradients():
    neck = build()
    x, c4 = (torch.randn(1, ch, 3, 4, dtype=torch.float64, requires_grad=True) for ch in (6, 5))
    assert torch.autograd.gradcheck(lambda a, b: neck(a, {"c4": b}), (x, c4), fast_mode=True)


def test_the_region_logits_are_a_side_output_and_a_wrong_width_is_one_line():
    cfg = {"backbone": {"name": "lite_resnet", "widths": [8, 8, 8, 16]}, "neck": {"name": "object_context", "channels": 16, "key_channels": 8,
                                                      "region_channels": 8},
           "head": {"name": "fcn", "num_convs": 0}, "side_heads": {"regions": {"level": "c5_regions", "weight": 0.4}}}
    model = segfw.build_segmentor(cfg, num_classes=3).train()
    images, masks = torch.randn(2, 3, 32, 48), torch.randint(0, 3, (2, 32, 48))
    outputs = model.head_outputs(images)
    assert set(outputs) == {"main", "regions"} and outputs["regions"].shape == (2, 3, 4, 6)
    losses = model.losses(images, masks)
    assert set(losses) == {"loss_ce", "loss_regions"}
    cfg["side_heads"]["regions"]["level"] = "c5"  # 16 channels, not 3 logits
    with pytest.raises(segfw.ConfigError, match="level 'c5' has 16 channels"):
        segfw.build_segmentor(cfg, num_classes=3)
