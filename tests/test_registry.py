import pytest
import torch

import segfw
from segfw.__main__ import list_components
from segfw.errors import ConfigError
from segfw.registry import Registry


def test_unknown_name_lists_registered_and_closest():
    with pytest.raises(ConfigError) as error:
        segfw.NECKS.build({"name": "strip_pool"}, in_channels=8)
    message = str(error.value)
    assert "unknown neck 'strip_pool'" in message
    assert "Did you mean 'strip_pooling'" in message
    assert "identity" in message


def test_unknown_keyword_names_component_and_key():
    specs = segfw.BACKBONES.build({"name": "resnet18"}).out_specs
    with pytest.raises(ConfigError, match="head 'fcn' has no parameter 'chanels'"):
        segfw.HEADS.build({"name": "fcn", "chanels": 3}, in_specs=specs, num_classes=3)


def test_missing_name_key():
    with pytest.raises(ConfigError, match="needs a 'name' key"):
        segfw.LOSSES.build({"ignore_index": 255})


def test_double_registration_fails():
    registry = Registry("thing")
    registry.register("a")(dict)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(list)


def test_list_prints_every_kind_and_block():
    text = list_components()
    for registry in segfw.ALL_REGISTRIES:
        assert f"[{registry.kind}]" in text
        for name in registry.names():
            assert name in text


def test_blocks_work_without_config():
    model = segfw.build_segmentor({"backbone": {"name": "resnet18"}, "head": {"name": "fcn"}}, num_classes=5)
    assert model(torch.randn(1, 3, 37, 45)).shape == (1, 5, 37, 45)


def test_null_framework_keys_come_from_the_features():
    from segfw.models.feature_spec import FeatureSpec
    from segfw.models.necks.level_neck import build_neck

    specs = {"c4": FeatureSpec(8, 16), "c5": FeatureSpec(8, 16)}
    neck = build_neck({"name": "aspp", "channels": 4, "output_stride": None, "rates": None}, specs)
    dilations = [branch[0].dilation[0] for branch in neck.block.branches[1:4]]
    assert dilations == [6, 12, 18]  # the rates of output stride 16, read from the level's stride
    explicit = build_neck({"name": "aspp", "channels": 4, "output_stride": 8, "rates": None}, specs)
    assert [branch[0].dilation[0] for branch in explicit.block.branches[1:4]] == [12, 24, 36]
