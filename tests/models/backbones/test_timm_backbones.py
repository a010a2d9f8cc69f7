"""timm backbones: families × output strides, one training step through a real head, pretrained loading."""

from __future__ import annotations

import socket

import pytest
import timm
import torch

import segfw

NUM_CLASSES = 3
# (timm name, output strides it supports): CNN families dilate, transformer-style ones do not.
FAMILIES = [
    ("resnet18", (32, 16, 8)),
    ("convnext_atto", (32, 16, 8)),
    ("efficientnet_b0", (32, 16, 8)),
    ("pvt_v2_b0", (32,)),
]


def _model(name: str, output_stride: int, neck: str = "identity") -> segfw.Segmentor:
    cfg = {
        "backbone": {"name": f"timm/{name}", "output_stride": output_stride},
        "neck": {"name": neck},
        "head": {"name": "fcn", "channels": 8},
        "aux_head": {"name": "fcn", "channels": 8, "in_level": "c4"},
    }
    return segfw.build_segmentor(cfg, num_classes=NUM_CLASSES)


@pytest.mark.parametrize("name,strides", FAMILIES)
def test_family_publishes_true_specs_and_trains_one_step(name, strides):
    torch.manual_seed(0)
    images, masks = torch.randn(2, 3, 32, 64), torch.randint(0, NUM_CLASSES, (2, 32, 64))
    for output_stride in strides:
        model = _model(name, output_stride).train()
        specs = model.backbone.out_specs
        assert list(specs)[-1] == "c5" and specs["c5"].stride == output_stride
        with torch.no_grad():
            feats = model.backbone(images)
        for level, spec in specs.items():  # the published specs are what the tensors are
            assert feats[level].shape[1:] == (spec.channels, 32 // spec.stride, 64 // spec.stride), level
    # one SGD step at the densest supported stride (model is the last one built)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = next(model.backbone.body.parameters()).detach().clone()
    losses = model.losses(images, masks)
    assert set(losses) == {"loss_ce", "loss_aux"}
    sum(losses.values()).backward()
    optimizer.step()
    assert not torch.equal(first, next(model.backbone.body.parameters()))


def test_unsupported_output_stride_is_one_clear_line():
    with pytest.raises(segfw.ConfigError, match="does not support output_stride=8.*output_stride=32"):
        _model("pvt_v2_b0", 8)


def test_channels_last_features_come_back_nchw_with_any_neck():
    """Swin returns NHWC features; the backbone hands NCHW to a strip-pooling neck at an odd size."""
    model = _model("swin_tiny_patch4_window7_224", 32, neck="strip_pooling").eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 45, 61))
    assert logits.shape == (1, NUM_CLASSES, 45, 61)


def test_config_override_selects_any_timm_model(compose):
    cfg = compose("train", ["model/backbone=timm", "model.backbone.name=convnext_atto", "model.backbone.output_stride=16",
                            "model/neck=strip_pooling"])
    model = segfw.build_segmentor(cfg.model, num_classes=NUM_CLASSES)
    assert model.backbone.out_specs["c5"] == segfw.FeatureSpec(320, 16)


def test_unknown_timm_name_suggests_the_closest():
    with pytest.raises(segfw.ConfigError, match="unknown timm model 'convnxt_atto'.*convnext_atto"):
        segfw.BACKBONES.build({"name": "timm/convnxt_atto"})


def test_pretrained_from_a_local_file_loads_those_weights(tmp_path):
    torch.manual_seed(1)
    reference = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18_weights.pth"
    torch.save(reference.state_dict(), path)
    backbone = segfw.BACKBONES.build({"name": "timm/resnet18", "pretrained": str(path)})
    assert torch.equal(backbone.body.conv1.weight, reference.conv1.weight)
    assert torch.equal(backbone.body.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)


def test_missing_weights_file_is_one_clear_line(tmp_path):
    with pytest.raises(segfw.ConfigError, match="does not exist"):
        segfw.BACKBONES.build({"name": "timm/resnet18", "pretrained": str(tmp_path / "nope.pth")})


def test_offline_without_cache_names_both_options(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf_constants

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(segfw.ConfigError) as error:
        segfw.BACKBONES.build({"name": "timm/resnet18", "pretrained": True})
    message = str(error.value)
    assert "\n" not in message
    assert "cannot download" in message and "model.backbone.pretrained=" in message and str(tmp_path / "hf") in message
