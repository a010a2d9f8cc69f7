"""Named head outputs and their named losses; the context stage build_neck wraps around a block."""

from __future__ import annotations

import pytest
import torch

import segfw
from segfw.models.feature_spec import FeatureSpec
from segfw.models.necks.context_stage import ContextStage
from segfw.models.necks.level_neck import build_neck
from segfw.errors import ConfigError

K = 3


def danet_like(side_weight=0.5):
    side = {"name": "fcn", "num_convs": 0, "dropout": 0.0}
    cfg = {
        "backbone": {"name": "resnet18", "output_stride": 8},
        "neck": {"name": "dual_attention", "branch_reduction": 8},
        "head": {"name": "fcn", "num_convs": 0, "dropout": 0.0},
        "aux_head": {"name": "fcn", "in_level": "c4", "channels": 8, "num_convs": 1, "dropout": 0.0},
        "side_heads": {"pam": {**side, "in_level": "c5_pam", "weight": side_weight},
                       "cam": {**side, "in_level": "c5_cam"}},
    }
    torch.manual_seed(0)
    return segfw.build_segmentor(cfg, num_classes=K)


def test_side_heads_give_named_weighted_losses():
    model = danet_like(side_weight=0.5).train()
    images, masks = torch.randn(2, 3, 35, 29), torch.randint(0, K, (2, 35, 29))
    outputs = model.head_outputs(images)
    assert list(outputs) == ["main", "aux", "pam", "cam"]
    losses = model.losses(images, masks)
    assert list(losses) == ["loss_ce", "loss_aux", "loss_pam", "loss_cam"]
    feats = model.neck(model.backbone(images))
    with torch.no_grad():
        pam_logits = model.side_heads["pam"].classifier(feats["c5_pam"])
    expected = 0.5 * model.loss(segfw.models.layers.resize(pam_logits, masks.shape[-2:]), masks)
    torch.testing.assert_close(losses["loss_pam"].detach(), expected)
    sum(losses.values()).backward()
    assert model.side_heads["cam"].classifier[1].weight.grad.abs().sum() > 0


def test_forward_returns_the_main_head_only():
    model = danet_like().eval()
    images = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        main = segfw.models.layers.resize(model.head_outputs(images)["main"], (33, 33))
        torch.testing.assert_close(model(images), main)


def test_a_side_head_is_switched_off_with_null(compose):
    cfg = compose("train", ["model=danet_r50", "model.backbone.pretrained=null", "model.side_heads.cam=null"]).model
    model = segfw.build_segmentor(cfg, num_classes=K)
    assert list(model.side_heads) == ["pam"]


def test_side_head_names_main_and_aux_are_reserved():
    with pytest.raises(ConfigError, match="'aux' is reserved"):
        segfw.models.segmentor.Segmentor(torch.nn.Identity(), torch.nn.Identity(), torch.nn.Identity(),
                                         torch.nn.Identity(), side_heads={"aux": torch.nn.Identity()})


def test_reduce_and_concat_input_wrap_any_neck_in_a_context_stage():
    specs = {"c4": FeatureSpec(8, 8), "c5": FeatureSpec(24, 8)}
    neck = build_neck({"name": "ppm", "reduce": 16, "concat_input": True}, specs)
    assert isinstance(neck.block, ContextStage) and neck.out_specs["c5"] == FeatureSpec(16, 8)
    assert neck.block.block.out_channels > 16  # PPM widens; the conv after the block brings it back to 16
    out = neck.eval()({"c4": torch.randn(1, 8, 9, 11), "c5": torch.randn(1, 24, 9, 11)})
    assert out["c5"].shape == (1, 16, 9, 11)
    plain = build_neck({"name": "non_local", "reduce": None}, specs)
    assert not isinstance(plain.block, ContextStage) and plain.out_specs["c5"].channels == 24
    with pytest.raises(ConfigError, match="concat_input needs a 'reduce' width"):
        build_neck({"name": "identity", "concat_input": True}, specs)
