"""The documented one-line overrides compose and build what they say."""

from omegaconf import OmegaConf

import segfw


def build(cfg):
    return segfw.build_segmentor(OmegaConf.to_container(cfg.model, resolve=True), num_classes=8)


def test_neck_level_score_and_normaliser_overrides(compose):
    cfg = compose("train", ["model/neck=strip_attention", "model.neck.level=c4", "model.neck.score=additive",
                            "model.neck.normalize=sigmoid"])
    model = build(cfg)
    assert model.neck.level == "c4"
    assert model.neck.out_specs["c4"] == model.backbone.out_specs["c4"]


def test_backbone_and_head_overrides(compose):
    cfg = compose("train", ["model/backbone=resnet34", "model/head=uper", "model/aux_head=none"])
    model = build(cfg)
    assert model.aux_head is None and model.backbone.out_specs["c5"].channels == 512
    assert isinstance(model.head, segfw.HEADS.get("uper"))
