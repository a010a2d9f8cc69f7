"""Segmentor: backbone → neck → head (+ auxiliary head), with named losses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from segfw.models.inference import predict_probabilities
from segfw.models.layers import resize, set_align_corners
from segfw.models.necks.level_neck import build_neck
from segfw.registry import BACKBONES, HEADS, LOSSES


class Segmentor(nn.Module):
    """A semantic-segmentation model.

    - ``forward(images: (B, 3, H, W)) -> logits (B, K, H, W)`` (head output upsampled bilinearly).
    - ``losses(images, masks: (B, H, W) int64) -> {"loss_ce": ..., "loss_aux": ...}``, already
      weighted; their sum is the training objective.
    - ``align_corners`` (the model-level key): every bilinear resize in the model, this final
      upsampling included, uses it (see :func:`set_align_corners`).
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
        align_corners: bool = False,
    ):
        super().__init__()
        self.backbone, self.neck, self.head, self.loss = backbone, neck, head, loss
        self.aux_head, self.aux_weight, self.align_corners = aux_head, aux_weight, align_corners
        set_align_corners(self, align_corners)

    def forward(self, images: Tensor) -> Tensor:
        feats = self.neck(self.backbone(images))
        return resize(self.head(feats), images.shape[-2:], self.align_corners)

    def losses(self, images: Tensor, masks: Tensor) -> dict[str, Tensor]:
        feats = self.backbone(images)
        size = masks.shape[-2:]
        out = {"loss_ce": self.loss(resize(self.head(self.neck(feats)), size, self.align_corners), masks)}
        if self.aux_head is not None:
            out["loss_aux"] = self.aux_weight * self.loss(resize(self.aux_head(feats), size, self.align_corners), masks)
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
    ``{name: ..., **kwargs}`` node), ``aux_weight`` and ``align_corners`` (default False). Necks and
    heads get the feature specs of the block before them, so no channel count is ever written by hand.
    """
    backbone = BACKBONES.build(cfg["backbone"])
    neck = build_neck(cfg.get("neck") or {"name": "identity"}, backbone.out_specs)
    head = HEADS.build(cfg["head"], in_specs=neck.out_specs, num_classes=num_classes)
    aux_node = cfg.get("aux_head")
    aux_head = HEADS.build(aux_node, in_specs=backbone.out_specs, num_classes=num_classes) if aux_node else None
    loss = LOSSES.build(cfg.get("loss") or {"name": "cross_entropy"})
    return Segmentor(
        backbone, neck, head, loss, aux_head, float(cfg.get("aux_weight", 0.4)), bool(cfg.get("align_corners", False))
    )
