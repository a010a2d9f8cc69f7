"""MSCAN backbones: published feature specs, odd sizes round up, an mmseg-named ImageNet file loads (its classifier
ignored) and equals mmseg's MSCAN, a missing file is one line."""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm
import segfw
from segfw.errors import ConfigError


def test_specs_and_odd_sizes():
    backbone = segfw.BACKBONES.build({"name": "mscan_t"}).eval()
    assert {k: (s.channels, s.stride) for k, s in backbone.out_specs.items()} == {
        "c2": (32, 4), "c3": (64, 8), "c4": (160, 16), "c5": (256, 32)}
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 33, 47))
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "c2": (32, 9, 12), "c3": (64, 5, 6), "c4": (160, 3, 3), "c5": (256, 2, 2)}


def test_mmseg_named_imagenet_file_loads_and_equals_mmseg(tmp_path):
    from mmseg.models.backbones import MSCAN

    torch.manual_seed(0)
    reference = MSCAN(embed_dims=[32, 64, 160, 256], mlp_ratios=[8, 8, 4, 4], depths=[3, 3, 5, 2],
                      norm_cfg=dict(type="BN", requires_grad=True))
    mm.randomize_norm_statistics(reference)
    path = tmp_path / "mscan_t.pth"
    classifier = {"head.weight": torch.zeros(1000, 256), "head.bias": torch.zeros(1000)}  # an ImageNet file's
    torch.save({"state_dict": reference.state_dict() | classifier}, path)
    ours = segfw.BACKBONES.build({"name": "mscan_t", "pretrained": str(path)}).eval()
    x = torch.randn(1, 3, 33, 47)
    with torch.no_grad():
        expected, got = reference.eval()(x), ours(x)
    for level, e in zip(("c2", "c3", "c4", "c5"), expected):
        torch.testing.assert_close(got[level], e, rtol=1e-5, atol=1e-5)


def test_missing_weight_file_is_one_line_naming_the_key_and_the_download():
    with pytest.raises(ConfigError) as error:
        segfw.BACKBONES.build({"name": "mscan_b", "pretrained": "/nowhere/mscan_b.pth"})
    message = str(error.value)
    assert "model.backbone.pretrained" in message and "download.openmmlab.com" in message and "\n" not in message
