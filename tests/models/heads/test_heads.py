"""Decoder heads: shapes and strides on real and fake feature specs, and the contract every HEADS entry keeps."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from conftest import REPO

import segfw
from segfw.models.feature_spec import FeatureSpec
from segfw.models.necks.aspp import ASPP
from segfw.models.necks.mixed_pooling import MixedPooling
from segfw.models.necks.ppm import PyramidPooling

HEAD_CONFIGS = REPO / "configs" / "model" / "head"
NUM_CLASSES = 3
# Fake features of a 52×84 image: distinct channel counts, c4/c5 dilated (output stride 8).
FAKE_SPECS = {"c2": FeatureSpec(5, 4), "c3": FeatureSpec(6, 8), "c4": FeatureSpec(7, 8), "c5": FeatureSpec(9, 8)}
IMAGE_SIZE = (52, 84)


def fake_features(specs, batch=2, image_size=IMAGE_SIZE):
    return {
        level: torch.randn(batch, spec.channels, -(-image_size[0] // spec.stride), -(-image_size[1] // spec.stride))
        for level, spec in specs.items()
    }


def tiny_head_config(name):
    """The head's YAML with every ``*channels`` width shrunk to 8, so tests stay fast."""
    node = OmegaConf.to_container(OmegaConf.load(HEAD_CONFIGS / f"{name}.yaml"))
    return {k: (8 if k.endswith("channels") and isinstance(v, int) else v) for k, v in node.items()}


# name → (stride of the output, the shared block it must reuse, or None)
MY_HEADS = {
    "psp": (8, PyramidPooling),
    "aspp": (8, ASPP),
    "deeplabv3plus": (4, ASPP),
    "uper": (4, PyramidPooling),
    "sp_head": (8, MixedPooling),
}


@pytest.mark.parametrize("name", sorted(MY_HEADS))
def test_head_output_stride_on_fake_specs(name):
    stride, block = MY_HEADS[name]
    head = segfw.HEADS.build(tiny_head_config(name), in_specs=FAKE_SPECS, num_classes=NUM_CLASSES)
    out = head(fake_features(FAKE_SPECS))
    assert out.shape == (2, NUM_CLASSES, -(-IMAGE_SIZE[0] // stride), -(-IMAGE_SIZE[1] // stride))
    assert any(isinstance(module, block) for module in head.modules()), f"{name} should reuse {block.__name__}"


@pytest.fixture(scope="module")
def resnet18_features():
    backbone = segfw.BACKBONES.build({"name": "resnet18", "output_stride": 8}).eval()
    with torch.no_grad():
        return backbone.out_specs, backbone(torch.randn(2, 3, 65, 65))


@pytest.mark.parametrize("name", sorted(MY_HEADS))
def test_head_on_resnet18_features(name, resnet18_features):
    specs, feats = resnet18_features
    stride, _ = MY_HEADS[name]
    head = segfw.HEADS.build(tiny_head_config(name), in_specs=specs, num_classes=NUM_CLASSES)
    out = head(feats)
    assert out.shape == (2, NUM_CLASSES, *feats["c2" if stride == 4 else "c5"].shape[-2:])
    out.sum().backward()


def test_deeplab_heads_derive_atrous_rates_from_the_feature_stride():
    specs = {**FAKE_SPECS, "c5": FeatureSpec(9, 16)}
    for name in ("aspp", "deeplabv3plus"):
        head = segfw.HEADS.build(tiny_head_config(name), in_specs=specs, num_classes=NUM_CLASSES)
        dilations = [m.dilation[0] for m in head.aspp.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        assert dilations == [6, 12, 18]


def test_sp_head_defaults_follow_the_official_widths():
    head = segfw.HEADS.build({"name": "sp_head"}, in_specs={"c5": FeatureSpec(64, 8)}, num_classes=NUM_CLASSES)
    assert len(head.mpms) == 2 and head.mpms[0].out_channels == 32  # C/2 into the MPMs
    assert head.classifier[1].in_channels == 16  # C/4 into the classifier


def test_heads_name_missing_levels():
    with pytest.raises(segfw.ConfigError, match="c2"):
        segfw.HEADS.build({"name": "deeplabv3plus"}, in_specs={"c5": FeatureSpec(8, 8)}, num_classes=2)
    with pytest.raises(segfw.ConfigError, match="in_levels"):
        segfw.HEADS.build({"name": "uper", "in_levels": ["c5"]}, in_specs=FAKE_SPECS, num_classes=2)


# ---- the contract of every registered head (new heads are tested automatically) ----


def constructor_defaults(factory):
    context = {"in_specs", "num_classes"}
    return {
        p.name: p.default
        for p in inspect.signature(factory).parameters.values()
        if p.name not in context and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def as_yaml_value(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", segfw.HEADS.names())
def test_head_yaml_lists_every_keyword_with_its_default(name):
    path = HEAD_CONFIGS / f"{name}.yaml"
    assert path.is_file(), f"head '{name}' has no config file {path}"
    node = OmegaConf.to_container(OmegaConf.load(path))
    assert node.pop("name") == name
    defaults = constructor_defaults(segfw.HEADS.get(name))
    assert set(node) == set(defaults), f"{path} keys differ from the constructor's keywords"
    assert node == {k: as_yaml_value(v) for k, v in defaults.items()}


@pytest.mark.parametrize("name", segfw.HEADS.names())
def test_head_contract_shapes_gradients_and_onnx(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    head = segfw.HEADS.build(tiny_head_config(name), in_specs=FAKE_SPECS, num_classes=NUM_CLASSES)
    feats = fake_features(FAKE_SPECS)
    out = head(feats)
    sizes = {tuple(x.shape[-2:]) for x in feats.values()}
    assert out.shape[:2] == (2, NUM_CLASSES) and tuple(out.shape[-2:]) in sizes, "output at a feature level's stride"
    out.square().mean().backward()
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)

    levels = list(feats)

    class Positional(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = head

        def forward(self, *tensors):
            return self.head(dict(zip(levels, tensors)))

    model = Positional().eval()
    inputs = tuple(feats[level] for level in levels)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, inputs, str(path), input_names=levels, dynamo=True, optimize=False, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: feats[i.name].numpy() for i in session.get_inputs()}
    with torch.no_grad():
        expected = model(*inputs).numpy()
    np.testing.assert_allclose(session.run(None, feed)[0], expected, rtol=1e-4, atol=1e-4)
