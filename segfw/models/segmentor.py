"""Segmentor: backbone → neck → head (+ auxiliary and side heads), with named losses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from segfw.losses.weighted_sum import named_losses
from segfw.models.inference import predict_probabilities
from segfw.models.layers import resize
from segfw.models.necks.level_neck import build_neck
from segfw.registry import BACKBONES, HEADS, LOSSES, ConfigError

MAIN = "main"  # the name of the head whose logits ``forward`` returns


def loss_name(output: str) -> str:
    """The loss key of a named head output: ``loss_ce`` for the main head (mmseg's and segfw's
    historical name), ``loss_<output>`` for every other (``loss_aux``, ``loss_pam``, ...)."""
    return "loss_ce" if output == MAIN else f"loss_{output}"


class Segmentor(nn.Module):
    """A semantic-segmentation model.

    - ``forward(images: (B, 3, H, W)) -> logits (B, K, H, W)`` (main head output upsampled bilinearly).
    - ``head_outputs(images) -> {"main": (B, K, h, w), "aux": ..., <side>: ...}``: the logits of
      every head at its own stride (training view). The auxiliary head reads the backbone's
      features; the main head and the side heads read the neck's (side heads typically read a
      level the neck publishes, e.g. DANet's ``c5_pam``).
    - ``losses(images, masks: (B, H, W) int64) -> {"loss_ce": ..., "loss_aux": ..., "loss_pam": ...}``:
      one named loss per head output, already weighted (main 1, aux ``aux_weight``, each side head
      its own weight); their sum is the training objective. A loss of several terms (``weighted_sum``)
      gives one entry per term and head: ``loss_ce``, ``loss_dice``, ``loss_aux_ce``, ``loss_aux_dice``.
    - ``predict(images, mode, scales, flip, ...) -> class probabilities (B, K, H, W)``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        neck: nn.Module,
        head: nn.Module,
        loss: nn.Module,
        aux_head: nn.Module | None = None,
        aux_weight: float = 0.4,
        side_heads: Mapping[str, nn.Module] | None = None,
        side_weights: Mapping[str, float] | None = None,
    ):
        super().__init__()
        self.backbone, self.neck, self.head, self.loss = backbone, neck, head, loss
        self.aux_head, self.aux_weight = aux_head, aux_weight
        self.side_heads = nn.ModuleDict(dict(side_heads or {}))
        side_weights = dict(side_weights or {})
        reserved = {MAIN, "aux"} & set(self.side_heads)
        if reserved:
            raise ConfigError(f"side head name '{sorted(reserved)[0]}' is reserved; choose another name")
        self.loss_weights = {MAIN: 1.0, "aux": aux_weight, **{n: float(side_weights.get(n, 1.0)) for n in self.side_heads}}

    def forward(self, images: Tensor) -> Tensor:
        feats = self.neck(self.backbone(images))
        return resize(self.head(feats), images.shape[-2:])

    def head_outputs(self, images: Tensor) -> dict[str, Tensor]:
        feats = self.backbone(images)
        context = self.neck(feats)
        out = {MAIN: self.head(context)}
        if self.aux_head is not None:
            out["aux"] = self.aux_head(feats)
        out.update({name: head(context) for name, head in self.side_heads.items()})
        return out

    def losses(self, images: Tensor, masks: Tensor) -> dict[str, Tensor]:
        size = masks.shape[-2:]
        out = {}
        for name, logits in self.head_outputs(images).items():
            out.update(named_losses(loss_name(name), self.loss(resize(logits, size), masks), self.loss_weights[name]))
        return out

    def predict(
        self,
        images: Tensor,
        mode: str = "whole",
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
        crop_size: Sequence[int] | None = None,
        stride: Sequence[int] | None = None,
    ) -> Tensor:
        return predict_probabilities(self, images, mode, scales, flip, crop_size, stride)


def build_segmentor(cfg: Mapping[str, Any], num_classes: int) -> Segmentor:
    """Build a :class:`Segmentor` from a ``model`` config node.

    The node holds ``backbone``, ``neck``, ``head``, optional ``aux_head``, ``loss`` (each a
    ``{name: ..., **kwargs}`` node), ``aux_weight``, and optional ``side_heads``: a mapping
    ``{output name: {weight: w, name: <head>, **kwargs}}`` of extra training heads on the neck's
    features (DANet's PAM-only and CAM-only classifiers). Necks and heads get the feature specs of
    the block before them, so no channel count is ever written by hand.
    """
    backbone = BACKBONES.build(cfg["backbone"])
    neck = build_neck(cfg.get("neck") or {"name": "identity"}, backbone.out_specs)
    head = HEADS.build(cfg["head"], in_specs=neck.out_specs, num_classes=num_classes)
    aux_node = cfg.get("aux_head")
    aux_head = HEADS.build(aux_node, in_specs=backbone.out_specs, num_classes=num_classes) if aux_node else None
    side_heads, side_weights = {}, {}
    for name, node in (cfg.get("side_heads") or {}).items():
        if not node:  # model.side_heads.<name>=null switches a side head off
            continue
        node = dict(node)
        side_weights[name] = float(node.pop("weight", 1.0))
        side_heads[name] = HEADS.build(node, in_specs=neck.out_specs, num_classes=num_classes)
    loss = LOSSES.build(cfg.get("loss") or {"name": "cross_entropy"})
    return Segmentor(backbone, neck, head, loss, aux_head, float(cfg.get("aux_weight", 0.4)), side_heads, side_weights)
