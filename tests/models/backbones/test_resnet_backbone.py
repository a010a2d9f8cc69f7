"""ResNet backbone: mmseg's ResNetV1c geometry, SPNet's deep base and multi-grid, pretrained loading."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

import mmseg_reference as mm
import segfw
from segfw.models.backbones.resnet import ResNet
from segfw.models.backbones.resnet_blocks import add_strip_pooling
from segfw.models.blocks.strip_pooling import StripPooling

# (output stride, mmseg strides, mmseg dilations)
GEOMETRY = {8: ((1, 2, 1, 1), (1, 1, 2, 4)), 16: ((1, 2, 2, 1), (1, 1, 1, 2)), 32: ((1, 2, 2, 2), (1, 1, 1, 1))}


@pytest.mark.parametrize(
    "output_stride, contract_dilation, multi_grid",
    [(8, True, None), (16, True, None), (8, False, None), (8, True, (1, 3))],
)
def test_v1c_resnet18_equals_mmseg_resnetv1c(output_stride, contract_dilation, multi_grid):
    """BasicBlocks dilate conv1 only, contract_dilation and multi_grid assign rates as mmseg's ResLayer."""
    strides, dilations = GEOMETRY[output_stride]
    reference = mm.MODELS.build(dict(
        type="ResNetV1c", depth=18, strides=strides, dilations=dilations, contract_dilation=contract_dilation,
        multi_grid=multi_grid, norm_cfg=dict(type="BN"), out_indices=(0, 1, 2, 3)))
    mm.randomize_norm_statistics(reference)
    ours = ResNet(18, output_stride, stem="v1c", contract_dilation=contract_dilation, multi_grid=multi_grid)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 45, 59)
    reference.eval()  # mmseg's ResNet.train() returns None
    with torch.no_grad():
        expected, got = reference(x), ours.eval()(x)
    for level, (exp, feat) in zip(("c2", "c3", "c4", "c5"), zip(expected, got.values())):
        assert feat.shape == exp.shape
        assert feat.shape[-1] == math.ceil(59 / ours.out_specs[level].stride)
        torch.testing.assert_close(feat, exp, rtol=1e-5, atol=1e-5)


def test_deep_stem_and_multi_grid_follow_spnet():
    """SPNet's deep base: 3×3 convs 64-64-128 then BN; layer3 dilations 1, 2, 2, …; layer4 4, 8, 16."""
    net = ResNet(50, 8, stem="deep", multi_grid=[4, 8, 16])
    convs = [m for m in net.stem if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (3, 64, (3, 3), (2, 2)), (64, 64, (3, 3), (1, 1)), (64, 128, (3, 3), (1, 1))]
    assert net.layer1[0].conv1.in_channels == 128 and net.layer1[0].downsample[0].in_channels == 128
    assert [b.conv2.dilation[0] for b in net.layer3] == [1] + [2] * 5
    assert [b.conv2.dilation[0] for b in net.layer4] == [4, 8, 16]
    assert [b.conv2.padding[0] for b in net.layer4] == [4, 8, 16]
    out = net(torch.randn(1, 3, 33, 41))
    assert out["c5"].shape == (1, 2048, 5, 6) and out["c2"].shape == (1, 256, 9, 11)


def test_multi_grid_needs_one_rate_per_block():
    with pytest.raises(segfw.ConfigError, match="multi_grid"):
        ResNet(50, 8, multi_grid=[4, 8])


def test_spm_starts_from_spnets_initialisation():
    block = ResNet(50, 8).layer4[0]
    add_strip_pooling(block)
    spm = block.conv3.spm
    conv = spm.rows.conv[0]
    expected_std = math.sqrt(2.0 / (3 * 1 * conv.out_channels))
    assert abs(conv.weight.std().item() - expected_std) < 0.1 * expected_std
    assert torch.equal(spm.rows.conv[1].weight, torch.ones(512)) and torch.equal(spm.rows.conv[1].bias, torch.zeros(512))


def test_pretrained_file_in_torchvision_naming_with_wrapper_prefixes_loads(tmp_path):
    source = ResNet(18, 32)
    state = {f"module.backbone.{k.replace('stem.0.', 'conv1.').replace('stem.1.', 'bn1.')}": v
             for k, v in source.state_dict().items()}
    state["module.backbone.fc.weight"] = torch.zeros(1000, 512)  # the classifier is dropped
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": state}, path)
    loaded = ResNet(18, 8, pretrained=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_pretrained_file_that_does_not_fit_is_one_line_naming_the_keys(tmp_path):
    state = ResNet(18, 32).state_dict()
    del state["layer4.1.bn2.weight"]
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(segfw.ConfigError) as error:
        ResNet(18, 8, pretrained=str(path))
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "1 missing keys (layer4.1.bn2.weight)" in message and "1 unexpected keys (layer5.0.conv1.weight)" in message


def test_pretrained_file_that_is_not_a_state_dict_is_one_line(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(segfw.ConfigError, match="is not a PyTorch state dict"):
        ResNet(18, 8, pretrained=str(path))


def test_torchvision_weight_names_refuse_other_stems():
    with pytest.raises(segfw.ConfigError, match="torchvision stem only"):
        ResNet(50, 8, stem="v1c", pretrained="IMAGENET1K_V1")


def test_backbones_never_import_necks():
    folder = Path(segfw.__file__).parent / "models" / "backbones"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("segfw.models.necks"), f"{path.name} imports {node.module}"


def test_strip_pooling_neck_is_the_shared_block():
    from segfw.models.necks.strip_pooling import StripPooling as NeckStripPooling

    assert NeckStripPooling is StripPooling and segfw.NECKS.get("strip_pooling") is StripPooling
