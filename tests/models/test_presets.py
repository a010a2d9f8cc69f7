"""Model presets: composed by Hydra from the real configs, built, one training step on a tiny input."""

from __future__ import annotations

import socket

import pytest
import torch

import segfw
from conftest import CONFIGS

PAPER_PRESETS = [
    "fcn_r50",
    "pspnet_r50",
    "deeplabv3_r50",
    "deeplabv3plus_r50",
    "ccnet_r50",
    "nonlocal_r50",
    "danet_r50",
    "strip_attention_r50",
]
PRESETS = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml"))  # new presets are tested automatically
NUM_CLASSES = 3
# mmseg's transformer presets: backbone at its native stride 32 (no dilation), no auxiliary head
TRANSFORMER_PRESETS = {p for p in PRESETS if p.startswith(("segformer_", "segnext_"))}
# OCRNet's cascade: the neck classifies c4 (soft object regions) and publishes those logits (side head `regions`)
NECK_OWNS_AUX_CLASSIFIER = {"ocrnet_r50-d8"}


def test_paper_presets_exist_with_imagenet_weights(compose):
    assert set(PAPER_PRESETS) <= set(PRESETS)
    for preset in PAPER_PRESETS:
        assert compose("train", [f"model={preset}"]).model.backbone.pretrained == "IMAGENET1K_V1"


@pytest.mark.parametrize("preset", ["spnet_r50", "spnet_r101"])
def test_spnet_presets_are_built_as_the_official_code(preset, compose):
    """Deep base (no torchvision weights fit it), multi-grid 4-8-16, align_corners as SPNet's up_kwargs."""
    model = compose("train", [f"model={preset}"]).model
    assert model.backbone.stem == "deep" and list(model.backbone.multi_grid) == [4, 8, 16]
    assert model.backbone.pretrained is None and model.align_corners is True


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_builds_and_trains_one_step(preset, compose):
    model_cfg = compose("train", [f"model={preset}", "model.backbone.pretrained=null"]).model
    assert model_cfg.backbone.pretrained is None  # the command line wins over the preset body
    transformer = preset in TRANSFORMER_PRESETS
    if transformer:
        assert "output_stride" not in model_cfg.backbone and not model_cfg.get("aux_head")
    else:
        # fcn_r18: the light CPU default; upernet_r50: mmseg's UPerNet runs its FPN on c2..c5 at strides 4..32
        assert model_cfg.backbone.output_stride == {"fcn_r18": 16, "upernet_r50": 32}.get(preset, 8)
        if preset in NECK_OWNS_AUX_CLASSIFIER:  # the auxiliary classifier on c4 is the neck's (a side output)
            assert not model_cfg.get("aux_head") and model_cfg.neck.region_level == "c4"
        else:
            assert model_cfg.aux_head.in_level == "c4" and model_cfg.aux_weight == 0.4
    torch.manual_seed(0)
    model = segfw.build_segmentor(model_cfg, num_classes=NUM_CLASSES).train()
    images = torch.randn(2, 3, 33, 33)
    masks = torch.randint(0, NUM_CLASSES, (2, 33, 33))
    masks[:, :5] = 255
    losses = model.losses(images, masks)
    sides = {f"loss_{name}" for name in model_cfg.get("side_heads") or {}}
    plain = transformer or preset in NECK_OWNS_AUX_CLASSIFIER
    assert set(losses) == ({"loss_ce"} if plain else {"loss_ce", "loss_aux"}) | sides
    sum(losses.values()).backward()
    assert next(model.backbone.parameters()).grad is not None


def test_spnet_presets_put_strip_pooling_into_the_backbone(compose):
    from segfw.models.necks.strip_pooling import StripPooling

    model_cfg = compose("train", ["model=spnet_r50", "model.backbone.pretrained=null"]).model
    backbone = segfw.BACKBONES.build(model_cfg.backbone)
    placed = {name.split(".")[0] for name, m in backbone.named_modules() if isinstance(m, StripPooling)}
    assert placed == {"layer1", "layer2", "layer3", "layer4"}
    assert sum(isinstance(m, StripPooling) for m in backbone.layer4.modules()) == len(backbone.layer4)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network (connections fail at once, nothing can hang) and an empty torch hub cache."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_default_pretrained_weights_fail_offline_with_a_clear_message(compose, offline, tmp_path):
    model_cfg = compose("train", ["model=deeplabv3_r50"]).model
    assert model_cfg.backbone.pretrained == "IMAGENET1K_V1"
    with pytest.raises(segfw.ConfigError) as error:
        segfw.build_segmentor(model_cfg, num_classes=NUM_CLASSES)
    message = str(error.value)
    assert "cannot download" in message and "model.backbone.pretrained" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message  # where to put the file by hand
