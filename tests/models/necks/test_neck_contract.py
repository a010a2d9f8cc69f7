"""The neck contract, checked for every registered neck (new necks are picked up automatically).

Each neck is built from its own YAML file through ``build_neck``; it must keep H × W on odd and
square maps, be deterministic in eval mode and export to ONNX with onnxruntime agreeing.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from omegaconf import OmegaConf

from conftest import REPO

import segfw
from segfw.models.feature_spec import FeatureSpec
from segfw.models.necks.level_neck import build_neck

NECK_CONFIGS = REPO / "configs" / "model" / "neck"
CHANNELS = 16
SIZES = [(13, 21), (8, 8)]
NAMES = segfw.NECKS.names()


FRAMEWORK_SUPPLIED = {"output_stride"}  # build_neck passes the level's stride when the YAML says null
FRAMEWORK_ONLY = {"in_channels", "num_classes", "in_specs"}  # always given by build_neck, never in a YAML
NUM_CLASSES = 3


def yaml_node(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(NECK_CONFIGS / f"{name}.yaml"), resolve=True)


def build_block(name: str) -> torch.nn.Module:
    """The neck's block, built from its YAML, with every parameter perturbed and BN statistics random,
    so that no branch is silenced by a zero initialisation (γ = 0, zero-init BN scales)."""
    torch.manual_seed(0)
    neck = build_neck(yaml_node(name), {"c4": FeatureSpec(8, 8), "c5": FeatureSpec(CHANNELS, 8)}, NUM_CLASSES)
    assert neck.level == "c5"
    with torch.no_grad():
        for p in neck.parameters():
            p.add_(0.2 * torch.randn_like(p))
        for m in neck.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 1.5)
    return neck.eval()


@pytest.mark.parametrize("name", NAMES)
def test_yaml_names_the_neck_and_lists_every_parameter_with_its_default(name):
    path = NECK_CONFIGS / f"{name}.yaml"
    assert path.is_file(), f"neck '{name}' is registered but {path} does not exist"
    node = yaml_node(name)
    assert node.pop("name") == name
    assert node.pop("level") is None, f"{path} must say 'level: null' (build_neck's level; null = the deepest)"
    assert node.pop("reduce") is None and node.pop("concat_input") is False, (
        f"{path} must say 'reduce: null' and 'concat_input: false' (build_neck's context stage, off by default)")
    signature = inspect.signature(segfw.NECKS.get(name))
    if "context_channels" in signature.parameters:  # a second input: build_neck's context_level names it
        assert node.pop("context_level"), f"{path} must name its 'context_level' (the second level it reads)"
    defaults = {k: p.default for k, p in signature.parameters.items() if k not in FRAMEWORK_ONLY | {"context_channels"}}
    assert sorted(node) == sorted(defaults), f"{path} must list exactly the constructor's keyword arguments"
    for key, default in defaults.items():
        expected = list(default) if isinstance(default, tuple) else default
        if key in FRAMEWORK_SUPPLIED and node[key] is None:
            continue  # null: build_neck supplies it from the feature level
        assert node[key] == expected, f"{path}: '{key}' is {node[key]!r} but the constructor default is {default!r}"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", NAMES)
def test_neck_keeps_the_map_size_and_is_deterministic(name, size):
    neck = build_block(name)
    x, other = torch.randn(2, CHANNELS, *size), torch.randn(2, 8, *size)
    with torch.no_grad():
        out = neck({"c4": other, "c5": x})
        again = neck({"c4": other, "c5": x})
    assert out["c4"] is other, "levels other than the neck's pass through"
    assert out["c5"].shape == (2, neck.out_specs["c5"].channels, *size)
    assert torch.equal(out["c5"], again["c5"]), "eval-mode forward must be deterministic"


@pytest.mark.parametrize("name", NAMES)
def test_neck_exports_to_onnx(name, tmp_path):
    """The dynamo exporter: the legacy one cannot export adaptive pooling to sizes that do not divide the map."""
    neck = build_block(name)
    block = neck.block
    x = torch.randn(2, CHANNELS, *SIZES[0])
    # a block reading other levels gets them as a second argument: one level (context_level) as a map,
    # several (context_levels) as a dict of maps
    levels = {level: torch.randn(2, 8, *SIZES[0]) for level in getattr(block, "context_levels", ())}
    if neck.context_level is not None:
        args = (x, torch.randn(2, 8, *SIZES[0]))
    else:
        args = (x, levels) if levels else (x,)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a trailing dict in args would be read as keyword arguments: close the tuple with an empty one
        torch.onnx.export(block, (*args, {}) if levels else args, str(path), opset_version=18, dynamo=True,
                          optimize=False, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = [x, *levels.values()] if levels else list(args)
    (exported,) = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), feeds)})
    with torch.no_grad():
        expected = block(*args).numpy()
    # within 1e-4 of the output's scale (at least 1): a neck with large outputs (object_context's reach ~300
    # with perturbed weights) differs from itself in float64 by more than an absolute 1e-4 already
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(exported, expected, rtol=1e-4, atol=1e-4 * scale)
