"""Inputs beyond RGB (any backbone's first conv adapted) and binary mode (one sigmoid channel)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

import segfw
from conftest import tiny_overrides
from segfw.models.input_channels import adapt_input_channels, first_conv
from conftest import run_tool

BACKBONES = [
    {"name": "resnet18", "output_stride": 16},
    {"name": "timm/convnext_atto"},
    {"name": "timm/efficientnet_b0"},
    {"name": "timm/pvt_v2_b0"},
]


@pytest.mark.parametrize("node", BACKBONES, ids=lambda n: n["name"])
def test_extra_channels_start_as_the_rgb_network(node):
    """With the RGB filters kept and new ones at zero, RGB + anything computes the RGB features."""
    torch.manual_seed(0)
    rgb = segfw.BACKBONES.build(node).eval()
    adapted = adapt_input_channels(copy.deepcopy(rgb), 4, keep_rgb=True)
    _, _, conv = first_conv(rgb)
    adapted_conv = next(m for m in adapted.modules() if isinstance(m, torch.nn.Conv2d))
    assert adapted_conv.in_channels == 4 and torch.equal(adapted_conv.weight[:, :3], conv.weight)
    image = torch.randn(1, 3, 32, 32)
    four = torch.cat([image, torch.randn(1, 1, 32, 32)], 1)
    with torch.no_grad():
        expected, got = rgb(image), adapted(four)
    for level in expected:
        torch.testing.assert_close(got[level], expected[level], rtol=1e-5, atol=1e-5)


def test_one_channel_equals_the_grey_image_replicated_to_rgb():
    torch.manual_seed(0)
    rgb = segfw.BACKBONES.build({"name": "resnet18"}).eval()
    grey = adapt_input_channels(copy.deepcopy(rgb), 1, keep_rgb=True)
    image = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(grey(image)["c5"], rgb(image.expand(-1, 3, -1, -1))["c5"], rtol=1e-4, atol=1e-4)


def test_segmentor_with_in_channels_trains_one_step():
    cfg = {"backbone": {"name": "timm/convnext_atto"}, "head": {"name": "fcn", "channels": 8}, "in_channels": 5}
    model = segfw.build_segmentor(cfg, num_classes=3).train()
    losses = model.losses(torch.randn(2, 5, 32, 32), torch.randint(0, 3, (2, 32, 32)))
    sum(losses.values()).backward()
    assert model.eval()(torch.randn(1, 5, 32, 32)).shape == (1, 3, 32, 32)


def test_binary_mode_one_channel_probabilities_and_threshold():
    cfg = {"backbone": {"name": "resnet18", "output_stride": 32}, "head": {"name": "fcn", "channels": 8},
           "binary": True, "threshold": 0.8, "loss": {"name": "binary_cross_entropy"}}
    model = segfw.build_segmentor(cfg, num_classes=2).eval()
    images = torch.randn(1, 3, 32, 32)
    assert model(images).shape == (1, 1, 32, 32)
    with torch.no_grad():
        probs = model.predict(images)
        foreground = model(images).sigmoid()[:, 0]
    assert probs.shape == (1, 2, 32, 32)
    torch.testing.assert_close(probs[:, 1], foreground)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 32, 32))
    assert torch.equal(model.class_ids(probs), (foreground >= 0.8).long())


def test_binary_mode_refuses_a_wrong_class_count_or_loss():
    cfg = {"backbone": {"name": "resnet18"}, "head": {"name": "fcn"}, "binary": True}
    with pytest.raises(segfw.ConfigError, match="2 classes"):
        segfw.build_segmentor({**cfg, "loss": {"name": "dice"}}, num_classes=3)
    with pytest.raises(segfw.ConfigError, match="model/loss=binary"):
        segfw.build_segmentor(cfg, num_classes=2)


def make_binary_folder(root, count=(4, 2), size=(32, 48)) -> None:
    """A tiny two-class folder dataset: a bright rectangle (foreground, 1) on a dark noisy ground."""
    rng = np.random.default_rng(0)
    (root / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("background\nlesion\n")
    for split, n in zip(("train", "val"), count):
        (root / "images" / split).mkdir(parents=True)
        (root / "masks" / split).mkdir(parents=True)
        for i in range(n):
            mask = np.zeros(size, np.uint8)
            y, x = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
            mask[y : y + size[0] // 2, x : x + size[1] // 2] = 1
            image = (rng.normal(40, 10, (*size, 3)) + 150 * mask[..., None]).clip(0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / "images" / split / f"s{i}.png")
            Image.fromarray(mask).save(root / "masks" / split / f"s{i}.png")


@pytest.mark.slow
def test_binary_mode_trains_and_evaluates_with_the_real_tool(tmp_path):
    make_binary_folder(tmp_path / "data")
    overrides = tiny_overrides(tmp_path, **{"dataset": "folder", "dataset.root": str(tmp_path / "data"),
                                            "model.binary": "true", "model/loss": "binary", "model.threshold": "0.4"})
    overrides = [o for o in overrides if not o.startswith(("dataset.num_", "dataset.image_size", "dataset.cache_dir"))]
    run_tool("train.py", *overrides)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(metrics["per_class"]) == ["background", "lesion"]
    assert metrics["per_class_dice"]["lesion"] is not None
