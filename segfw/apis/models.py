"""Any preset model in one line, for use in other code: ``build_model("spnet_r50", num_classes=19)``."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import OmegaConf

from segfw.config import compose_config
from segfw.models.segmentor import Segmentor, build_segmentor


def preset_config(preset: str, overrides: Sequence[str] = ()) -> dict:
    """The ``model`` node of ``configs/model/<preset>.yaml`` exactly as ``tools/train.py model=<preset>``
    composes it; ``overrides`` are command-line overrides (``"model/neck=strip_attention"``,
    ``"model.backbone.output_stride=16"``)."""
    cfg = compose_config("train", [f"model={preset}", *overrides])
    return OmegaConf.to_container(cfg.model, resolve=True)


def build_model(preset: str, num_classes: int, pretrained: bool = True, overrides: Sequence[str] = ()) -> Segmentor:
    """The segmentor of a preset (``fcn_r18``, ``spnet_r50``, ...): a plain ``nn.Module`` with
    ``forward(images (B, 3, H, W)) -> logits (B, K, H, W)``. ``pretrained=False`` skips the ImageNet
    weights (nothing is downloaded); a backbone without pretrained weights (``lite_resnet``) ignores it."""
    node = preset_config(preset, overrides)
    if not pretrained and "pretrained" in node["backbone"]:
        node["backbone"]["pretrained"] = None
    return build_segmentor(node, num_classes)
