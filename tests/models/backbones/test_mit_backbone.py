"""MiT backbones: published feature specs, odd sizes round up, mmseg-named weight files load, a missing file is one line."""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm  # noqa: F401  (installs mmcv-lite's stand-in before mmseg imports)
import segfw
from segfw.errors import ConfigError


def test_specs_and_odd_sizes():
    backbone = segfw.BACKBONES.build({"name": "mit_b0"}).eval()
    assert {k: (s.channels, s.stride) for k, s in backbone.out_specs.items()} == {
        "c2": (32, 4), "c3": (64, 8), "c4": (160, 16), "c5": (256, 32)}
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 33, 47))  # smallest sides: the 8x8 reduction conv needs c2 >= 8x8, as mmseg's
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "c2": (32, 9, 12), "c3": (64, 5, 6), "c4": (160, 3, 3), "c5": (256, 2, 2)}


def test_mmseg_named_imagenet_file_loads(tmp_path):
    from mmseg.models.backbones import MixVisionTransformer

    torch.manual_seed(0)
    reference = MixVisionTransformer(embed_dims=32, num_layers=[2, 2, 2, 2], num_heads=[1, 2, 5, 8]).eval()
    path = tmp_path / "mit_b0.pth"
    torch.save({"state_dict": reference.state_dict()}, path)  # the layout of mmseg's pretrain/segformer/mit_b0_*.pth
    ours = segfw.BACKBONES.build({"name": "mit_b0", "pretrained": str(path)}).eval()
    x = torch.randn(1, 3, 33, 47)
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    for level, e in zip(("c2", "c3", "c4", "c5"), expected):
        torch.testing.assert_close(got[level], e, rtol=1e-4, atol=1e-5)


def test_missing_weight_file_is_one_line_naming_the_key_and_the_download():
    with pytest.raises(ConfigError) as error:
        segfw.BACKBONES.build({"name": "mit_b2", "pretrained": "/nowhere/mit_b2.pth"})
    message = str(error.value)
    assert "model.backbone.pretrained" in message and "download.openmmlab.com" in message and "\n" not in message
