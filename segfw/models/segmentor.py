"""Segmentor: backbone → neck → head (+ auxiliary and side heads), with named losses."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.constants import AUX_WEIGHT
from segfw.losses.weighted_sum import named_losses
from segfw.models.feature_spec import FeatureSpec, require_level
from segfw.models.inference import WINDOW_BATCH, predict_probabilities
from segfw.models.input_channels import adapt_input_channels
from segfw.models.layers import resize, set_align_corners
from segfw.models.necks.level_neck import build_neck
from segfw.errors import ConfigError
from segfw.registry import BACKBONES, HEADS, LOSSES

MAIN = "main"  # the name of the head whose logits ``forward`` returns


def loss_name(output: str) -> str:
    """The loss key of a named head output: ``loss_ce`` for the main head (mmseg's and segfw's
    historical name), ``loss_<output>`` for every other (``loss_aux``, ``loss_pam``, ...)."""
    return "loss_ce" if output == MAIN else f"loss_{output}"


class PublishedLogits(nn.Module):
    """A side "head" without parameters: the logits a neck computed and published as ``level``
    (OCRNet's soft object regions). ``forward(feats) -> feats[level]`` (B, K, h, w)."""

    def __init__(self, in_specs: Mapping[str, FeatureSpec], num_classes: int, level: str, output: str):
        super().__init__()
        spec = require_level(dict(in_specs), level, f"side head '{output}'")
        if spec.channels != num_classes:
            raise ConfigError(f"side head '{output}': level '{level}' has {spec.channels} channels, not the "
                              f"{num_classes} class logits a 'level:' side head takes; give it a 'name:' head instead")
        self.level = level

    def forward(self, feats: Mapping[str, Tensor]) -> Tensor:
        return feats[self.level]


class Segmentor(nn.Module):
    """A semantic-segmentation model.

    - ``forward(images: (B, 3, H, W)) -> logits (B, K, H, W)`` (main head output upsampled bilinearly).
    - ``head_outputs(images) -> {"main": (B, K, h, w), "aux": ..., <side>: ...}``: the logits of
      every head at its own stride (training view). The auxiliary head reads the backbone's
      features; the main head and the side heads read the neck's (side heads typically read a
      level the neck publishes, e.g. DANet's ``c5_pam``).
    - ``losses(images, masks: (B, H, W) int64) -> {"loss_ce": ..., "loss_aux": ..., "loss_pam": ...}``:
      one named loss per head output, already weighted (main 1, aux ``aux_weight``, each side head
      its own weight); their sum is the training objective. A side head may have its own loss
      (``side_losses``, e.g. EncNet's ``class_presence``); a loss with ``image_level = True`` gets
      the head's logits as they are instead of upsampled to the mask. A loss of several terms (``weighted_sum``)
      gives one entry per term and head: ``loss_ce``, ``loss_dice``, ``loss_aux_ce``, ``loss_aux_dice``.
    - ``align_corners`` (the model-level key): every bilinear resize in the model, this final
      upsampling included, uses it (see :func:`set_align_corners`).
    - ``test_size_divisor`` (the model-level key, default None): ``forward`` (inference, hence ``predict``,
      eval and export) pads the images with zeros at the bottom and right to a multiple of it, upsamples the
      logits to the padded size and crops them back: mmseg's ``test_cfg=dict(size_divisor=32)`` of its
      SegNeXt configs (its data preprocessor pads the normalised image with 0, ``postprocess_result`` crops).
      ``losses`` never pads (mmseg pads training crops only to their fixed crop size).
    - ``predict(images, mode, scales, flip, ...) -> class probabilities (B, K, H, W)``.
    - ``class_ids(probabilities (B, K, H, W)) -> (B, H, W) int64``: argmax, or in binary mode
      foreground (1) where its probability is at least ``threshold``.

    Binary mode (``threshold`` not None): the heads output ONE channel, a foreground logit z; the
    loss sees ``(B, 1, H, W)`` logits (``binary_cross_entropy``, ``dice`` ...), and ``predict``
    returns the two-class probabilities ``[1 - σ(z), σ(z)]`` (K = 2: background, foreground).
    """

    def __init__(
        self,
        backbone: nn.Module,
        neck: nn.Module,
        head: nn.Module,
        loss: nn.Module,
        aux_head: nn.Module | None = None,
        aux_weight: float = AUX_WEIGHT,
        side_heads: Mapping[str, nn.Module] | None = None,
        side_weights: Mapping[str, float] | None = None,
        threshold: float | None = None,
        align_corners: bool = False,
        test_size_divisor: int | None = None,
        side_losses: Mapping[str, nn.Module] | None = None,
    ):
        super().__init__()
        self.test_size_divisor = test_size_divisor
        self.backbone, self.neck, self.head, self.loss = backbone, neck, head, loss
        self.aux_head, self.aux_weight, self.align_corners = aux_head, aux_weight, align_corners
        self.side_heads = nn.ModuleDict(dict(side_heads or {}))
        self.side_losses = nn.ModuleDict(dict(side_losses or {}))
        side_weights = dict(side_weights or {})
        reserved = {MAIN, "aux"} & set(self.side_heads)
        if reserved:
            raise ConfigError(f"side head name '{sorted(reserved)[0]}' is reserved; choose another name")
        self.threshold = threshold
        self.loss_weights = {MAIN: 1.0, "aux": aux_weight, **{n: float(side_weights.get(n, 1.0)) for n in self.side_heads}}
        set_align_corners(self, align_corners)

    def forward(self, images: Tensor) -> Tensor:
        height, width = images.shape[-2:]
        if self.test_size_divisor:
            images = F.pad(images, (0, -width % self.test_size_divisor, 0, -height % self.test_size_divisor))
        feats = self.neck(self.backbone(images))
        return resize(self.head(feats), images.shape[-2:], self.align_corners)[..., :height, :width]

    def head_outputs(self, images: Tensor) -> dict[str, Tensor]:
        feats = self.backbone(images)
        context = self.neck(feats)
        # side heads run first, then the main and the auxiliary head: mmseg's order (DAHead classifies
        # PAM, CAM, then the sum), so that under one seed both draw the same dropout masks
        sides = {name: head(context) for name, head in self.side_heads.items()}
        out = {MAIN: self.head(context)}
        if self.aux_head is not None:
            out["aux"] = self.aux_head(feats)
        return {**out, **sides}

    def losses(self, images: Tensor, masks: Tensor) -> dict[str, Tensor]:
        size = masks.shape[-2:]
        out = {}
        for name, logits in self.head_outputs(images).items():
            loss_fn = self.side_losses[name] if name in self.side_losses else self.loss
            if not getattr(loss_fn, "image_level", False):  # image-level losses take (B, K, ...) as they are
                logits = resize(logits, size, self.align_corners)
            loss = loss_fn(logits, masks)
            out.update(named_losses(loss_name(name), loss, self.loss_weights[name]))
        return out

    def predict(
        self,
        images: Tensor,
        mode: str = "whole",
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
        crop_size: Sequence[int] | None = None,
        stride: Sequence[int] | None = None,
        window_batch: int = WINDOW_BATCH,
    ) -> Tensor:
        return predict_probabilities(self, images, mode, scales, flip, crop_size, stride, window_batch)

    def class_ids(self, probabilities: Tensor) -> Tensor:
        if self.threshold is None:
            return probabilities.argmax(dim=1)
        return (probabilities[:, 1] >= self.threshold).long()


@contextlib.contextmanager
def _seeded(init_seed: int | None, part: int):
    """With ``init_seed`` set: run the block under its own CPU generator seeded from ``(init_seed, part)``,
    leaving the global RNG as it was; without it: nothing (the global RNG, as always)."""
    if init_seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(init_seed) * 16 + part)
        yield


def build_segmentor(cfg: Mapping[str, Any], num_classes: int) -> Segmentor:
    """Build a :class:`Segmentor` from a ``model`` config node.

    The node holds ``backbone``, ``neck``, ``head``, optional ``aux_head``, ``loss`` (each a
    ``{name: ..., **kwargs}`` node), ``aux_weight``, ``align_corners`` (default False) and optional
    ``side_heads``: a mapping ``{output name: {weight: w, name: <head>, **kwargs}}`` of extra training
    heads on the neck's features (DANet's PAM-only and CAM-only classifiers); a side head node may hold
    its own ``loss: {name: ..., ...}`` (default: the model's ``loss``; EncNet's SE head: ``class_presence``).
    Necks get ``num_classes`` when they take it (OCRNet's neck classifies soft object regions), and
    a side head node ``{weight: w, level: <neck level>}`` without ``name`` takes the logits a neck
    publishes at that level as its output (OCRNet's region logits). Necks and heads get the feature specs of
    the block before them, so no channel count is ever written by hand.

    Inputs beyond RGB: ``in_channels`` (default 3) adapts the backbone's first convolution
    (:func:`adapt_input_channels`, pretrained RGB filters kept). Binary mode: ``binary: true`` with a
    two-class dataset (background, foreground) builds one-channel heads, and ``threshold`` (default
    0.5) turns the foreground probability into class ids at evaluation.

    Paired comparisons of necks: ``init_seed`` (an int, default None) builds the backbone, neck, head and
    auxiliary head each from its own generator seeded by ``(init_seed, part)``, so runs that differ only
    in the neck start from the same backbone and head weights (the head's differ where the neck changes
    its output channels, e.g. ppm or aspp, since the shapes differ) and leave the global RNG (dropout)
    in the same state.
    """
    binary = bool(cfg.get("binary", False))
    if binary and num_classes != 2:
        raise ConfigError(
            f"model.binary=true needs a dataset of 2 classes (background, foreground), but it has {num_classes}"
        )
    threshold = float(cfg.get("threshold", 0.5)) if binary else None
    num_classes = 1 if binary else num_classes
    init_seed = cfg.get("init_seed")
    with _seeded(init_seed, 0):
        backbone = BACKBONES.build(cfg["backbone"])
        adapt_input_channels(backbone, int(cfg.get("in_channels", 3)), keep_rgb=bool(cfg["backbone"].get("pretrained")))
    with _seeded(init_seed, 1):
        neck = build_neck(cfg.get("neck") or {"name": "identity"}, backbone.out_specs, num_classes)
    with _seeded(init_seed, 2):
        head = HEADS.build(cfg["head"], in_specs=neck.out_specs, num_classes=num_classes)
    aux_node = cfg.get("aux_head")
    with _seeded(init_seed, 3):
        aux_head = HEADS.build(aux_node, in_specs=backbone.out_specs, num_classes=num_classes) if aux_node else None
    side_heads, side_weights, side_losses = {}, {}, {}
    for name, node in (cfg.get("side_heads") or {}).items():
        if not node:  # model.side_heads.<name>=null switches a side head off
            continue
        node = dict(node)
        side_weights[name] = float(node.pop("weight", 1.0))
        if node.get("loss"):
            side_losses[name] = LOSSES.build(node.pop("loss"))
        node.pop("loss", None)
        if "name" not in node and "level" in node:
            side_heads[name] = PublishedLogits(neck.out_specs, num_classes, node.pop("level"), name)
        else:
            side_heads[name] = HEADS.build(node, in_specs=neck.out_specs, num_classes=num_classes)
    loss_node = cfg.get("loss") or {"name": "cross_entropy"}
    if binary and loss_node.get("name") == "cross_entropy":
        raise ConfigError("model.binary=true needs a one-channel loss: add model/loss=binary (BCE + Dice) or model/loss=dice")
    loss = LOSSES.build(loss_node)
    return Segmentor(
        backbone, neck, head, loss, aux_head, float(cfg.get("aux_weight", AUX_WEIGHT)), side_heads, side_weights, threshold,
        bool(cfg.get("align_corners", False)), cfg.get("test_size_divisor"), side_losses,
    )
