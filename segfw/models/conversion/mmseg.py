"""mmsegmentation 1.x ``EncoderDecoder`` state dicts → segfw ``Segmentor`` keys.

The backbone (ResNetV1c) already uses our names. ``ConvModule``'s ``conv``/``bn`` become our
``ConvBNReLU`` indices ``0``/``1``, ``DepthwiseSeparableConvModule``'s ``depthwise_conv``/``pointwise_conv``
become ``0``/``1`` of :class:`SeparableConvBNReLU`, ``conv_seg`` becomes ``classifier.1``. Decode
heads map onto our neck + head split as the mmseg-named presets build them (docs/modules.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from segfw.models.conversion.rules import Rule, rename, shifted
from segfw.models.state_dict import strip_prefixes
from segfw.errors import ConfigError

_CLASSIFIER: Rule = (r"conv_seg\.", "classifier.1.")
_FCN: list[Rule] = [(r"convs\.", "convs."), (r"conv_cat\.", "conv_cat."), _CLASSIFIER]
_CONTEXT_STAGE: list[Rule] = [  # FCNHead's convs around NLHead's / CCHead's attention → the neck's ContextStage
    (r"convs\.0\.", "neck.block.reduce."),
    (r"convs\.1\.", "neck.block.project."),
    (r"conv_cat\.", "neck.block.fuse."),
    (r"conv_seg\.", "head.classifier.1."),
]

# decode head kind → (a key prefix only that head has, rules from "decode_head." onwards, output prefix included)
MMSEG_HEADS: dict[str, tuple[str, list[Rule]]] = {
    # GC (mmneck1): GCHead = FCNHead's convs around mmcv's ContextBlock → the global_context neck's ContextStage
    "gc": ("gc_block.", [
        (r"gc_block\.conv_mask\.", "neck.block.block.mask."),
        (r"gc_block\.channel_add_conv\.", "neck.block.block.add."),
        (r"gc_block\.channel_mul_conv\.", "neck.block.block.mul."),
        *_CONTEXT_STAGE,
    ]),
    "uper": ("lateral_convs.", [
        (r"psp_modules\.(\d+)\.1\.", r"head.top.0.branches.\1.transform."),
        (r"bottleneck\.", "head.top.1."),
        (r"lateral_convs\.", "head.laterals."),
        (r"fpn_convs\.", "head.smooth."),
        (r"fpn_bottleneck\.", "head.fuse."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    "sep_aspp": ("c1_bottleneck.", [
        (r"image_pool\.1\.", "head.aspp.branches.0.transform."),
        (r"aspp_modules\.(\d+)\.", shifted("head.aspp.branches.")),
        (r"bottleneck\.", "head.aspp.project."),
        (r"c1_bottleneck\.", "head.reduce_low_level."),
        (r"sep_bottleneck\.", "head.fuse."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    "aspp": ("image_pool.", [
        (r"image_pool\.1\.", "neck.block.branches.0.transform."),
        (r"aspp_modules\.(\d+)\.", shifted("neck.block.branches.")),
        (r"bottleneck\.", "head.convs.0."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    "psp": ("psp_modules.", [
        (r"psp_modules\.(\d+)\.1\.", r"neck.block.branches.\1.transform."),
        (r"bottleneck\.", "head.convs.0."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    # NL, CC and DA: the neck is the head's context part (a ContextStage for NL/CC, docs/modules.md);
    # listed before "fcn" because NLHead and CCHead also have "convs." keys
    "nl": ("nl_block.", [
        (r"nl_block\.theta\.conv\.", "neck.block.block.attention.query."),
        (r"nl_block\.phi\.conv\.", "neck.block.block.attention.key."),
        (r"nl_block\.g\.conv\.", "neck.block.block.attention.value."),
        (r"nl_block\.conv_out\.", "neck.block.block.project."),
        *_CONTEXT_STAGE,
    ]),
    "cc": ("cca.", [
        (r"cca\.(query|key|value)_conv\.", r"neck.block.block.\1."),
        (r"cca\.gamma\.scale$", "neck.block.block.gamma"),
        *_CONTEXT_STAGE,
    ]),
    "da": ("pam_in_conv.", [
        (r"pam_in_conv\.", "neck.block.position.0."),
        (r"pam\.(query|key|value)_project\.", r"neck.block.position.1.attention.\1."),
        (r"pam\.gamma\.scale$", "neck.block.position.1.gamma"),
        (r"pam_out_conv\.", "neck.block.position.2."),
        (r"cam_in_conv\.", "neck.block.channel.0."),
        (r"cam\.gamma\.scale$", "neck.block.channel.1.gamma"),
        (r"cam_out_conv\.", "neck.block.channel.2."),
        (r"(pam|cam)_conv_seg\.", r"side_heads.\1.classifier.1."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    # ISA, EMA, PSA, Enc, OCR (mmneck2): the neck is the head's context part (docs/modules.md)
    "isa": ("global_relation.", [
        (r"in_conv\.", "neck.block.reduce."),
        (r"(global|local)_relation\.(key|query|value)_project\.", r"neck.block.\1_relation.attention.\2."),
        (r"(global|local)_relation\.output_project\.", r"neck.block.\1_relation.project."),
        (r"out_conv\.", "neck.block.fuse."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    "ema": ("ema_module.", [
        (r"ema_module\.bases$", "neck.block.bases"),
        (r"ema_in_conv\.", "neck.block.reduce."),
        (r"ema_mid_conv\.conv\.", "neck.block.mid."),
        (r"ema_out_conv\.", "neck.block.reconstruct."),
        (r"bottleneck\.", "neck.block.project."),
        (r"conv_cat\.", "neck.block.fuse."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    # DNL, ANN, APC, DM (zoo1): the neck is the head's context part (docs/modules.md)
    "dnl": ("dnl_block.", [
        (r"dnl_block\.theta\.conv\.", "neck.block.block.attention.query."),
        (r"dnl_block\.phi\.conv\.", "neck.block.block.attention.key."),
        (r"dnl_block\.g\.conv\.", "neck.block.block.attention.value."),
        (r"dnl_block\.conv_out\.", "neck.block.block.project."),
        (r"dnl_block\.conv_mask\.", "neck.block.block.mask."),
        *_CONTEXT_STAGE,
    ]),
    # PSA (zoo2): PSAHead's collect branch (reduce, attention), distribute branch (_p), proj, bottleneck
    "psa": ("attention.1.", [
        (r"reduce\.", "neck.block.branches.0.reduce."),
        (r"attention\.", "neck.block.branches.0.attention."),
        (r"reduce_p\.", "neck.block.branches.1.reduce."),
        (r"attention_p\.", "neck.block.branches.1.attention."),
        (r"(proj|bottleneck)\.", r"neck.block.\1."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    # Enc (zoo2): EncHead's bottleneck and EncModule → the context_encoding neck; se_layer (a Linear) → the
    # SE side head's 1x1 classifier (reshaped, _LINEAR_AS_CONV)
    "enc": ("enc_module.", [
        (r"bottleneck\.", "neck.block.bottleneck."),
        (r"enc_module\.encoding_project\.", "neck.block.project."),
        (r"enc_module\.encoding\.0\.(codewords|scale)$", r"neck.block.\1"),
        (r"enc_module\.encoding\.1\.", "neck.block.norm."),
        (r"enc_module\.fc\.0\.", "neck.block.fc."),
        (r"se_layer\.", "side_heads.se.classifier.1."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    "ann": ("fusion.stages.", [  # one stage per query scale; mmseg's ANN runs (and can run) only scale 1
        (r"fusion\.stages\.0\.(key|query|value)_project\.", r"neck.block.fusion.\1."),
        (r"fusion\.stages\.0\.out_project\.", "neck.block.fusion.out."),
        (r"fusion\.bottleneck\.", "neck.block.fusion_project."),
        (r"bottleneck\.", "neck.block.reduce."),
        (r"context\.stages\.0\.(key|query|value)_project\.", r"neck.block.context.\1."),
        (r"context\.stages\.0\.out_project\.", "neck.block.context.out."),
        (r"context\.bottleneck\.", "neck.block.context_project."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    # OCR (zoo2): CascadeEncoderDecoder's decode_head.0 (FCNHead) and .1 (OCRHead) → the object_context neck
    # (its region classifier, bottleneck, object attention, fuse) + the fcn head's classifier
    "ocr": ("1.object_context_block.", [
        (r"0\.convs\.", "neck.block.regions.convs."),
        (r"0\.conv_seg\.", "neck.block.regions.classifier.1."),
        (r"1\.bottleneck\.", "neck.block.bottleneck."),
        (r"1\.object_context_block\.(key|query|value|out)_project\.", r"neck.block.attention.\1."),
        (r"1\.object_context_block\.bottleneck\.", "neck.block.fuse."),
        (r"1\.conv_seg\.", "head.classifier.1."),
    ]),
    "apc": ("acm_modules.", [
        (r"acm_modules\.(\d+)\.pooled_redu_conv\.", r"neck.block.acms.\1.pooled_reduce."),
        (r"acm_modules\.(\d+)\.input_redu_conv\.", r"neck.block.acms.\1.reduce."),
        (r"acm_modules\.(\d+)\.global_info\.", r"neck.block.acms.\1.global_info."),
        (r"acm_modules\.(\d+)\.gla\.", r"neck.block.acms.\1.affinity."),
        (r"acm_modules\.(\d+)\.residual_conv\.", r"neck.block.acms.\1.residual."),
        (r"acm_modules\.(\d+)\.fusion_conv\.", r"neck.block.acms.\1.fusion."),
        (r"bottleneck\.", "head.convs.0."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    "dm": ("dcm_modules.", [
        (r"dcm_modules\.(\d+)\.filter_gen_conv\.", r"neck.block.dcms.\1.filter_gen."),
        (r"dcm_modules\.(\d+)\.input_redu_conv\.", r"neck.block.dcms.\1.reduce."),
        (r"dcm_modules\.(\d+)\.norm\.", r"neck.block.dcms.\1.norm."),
        (r"dcm_modules\.(\d+)\.fusion_conv\.", r"neck.block.dcms.\1.fusion."),
        (r"bottleneck\.", "head.convs.0."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    # SegFormer's all-MLP head: before "fcn" (it also has "convs." keys)
    "segformer": ("fusion_conv.", [
        (r"convs\.", "head.convs."),
        (r"fusion_conv\.", "head.fuse."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    # SegNeXt's LightHamHead (segnext): squeeze, Hamburger (ham_in conv with bias, NMF, ham_out conv + GN), align
    "ham": ("hamburger.", [
        (r"squeeze\.", "head.squeeze."),
        (r"hamburger\.ham_in\.conv\.", "head.hamburger.ham_in."),
        (r"hamburger\.ham_out\.", "head.hamburger.ham_out."),
        (r"hamburger\.ham\.bases$", "head.hamburger.nmf.bases"),  # rand_init=False only
        (r"align\.", "head.align."),
        (r"conv_seg\.", "head.classifier.1."),
    ]),
    "fcn": ("convs.", [(pattern, "head." + new) for pattern, new in _FCN]),
}


def _stage(pattern: str, tail: str, shift_last: int = 0) -> Rule:
    """A rule for mmseg's 1-based ``<module><i>`` keys: ``stages.<i - 1>.`` + ``tail`` formatted with the
    pattern's other groups (the last one minus ``shift_last``: mmseg's strip branches ``conv<k>_1``/``_2`` → ``.0``/``.1``)."""
    def replace(match: re.Match) -> str:
        stage, *rest = match.groups()
        if shift_last:
            rest[-1] = str(int(rest[-1]) - shift_last)
        return f"stages.{int(stage) - 1}." + tail.format(*rest)
    return pattern, replace


# backbone kind → (a key prefix only that backbone has, rules from "backbone." onwards); other backbones
# (ResNetV1c) already use our names
MMSEG_BACKBONES: dict[str, tuple[str, list[Rule]]] = {
    "mit": ("layers.0.0.projection.", [  # MixVisionTransformer → segfw.models.backbones.mit
        (r"layers\.(\d+)\.0\.projection\.", r"stages.\1.proj."),
        (r"layers\.(\d+)\.0\.norm\.", r"stages.\1.embed_norm."),
        (r"layers\.(\d+)\.1\.(\d+)\.attn\.attn\.", r"stages.\1.blocks.\2.attn."),
        (r"layers\.(\d+)\.1\.(\d+)\.ffn\.layers\.0\.", r"stages.\1.blocks.\2.ffn.fc1."),
        (r"layers\.(\d+)\.1\.(\d+)\.ffn\.layers\.1\.", r"stages.\1.blocks.\2.ffn.pe_conv."),
        (r"layers\.(\d+)\.1\.(\d+)\.ffn\.layers\.4\.", r"stages.\1.blocks.\2.ffn.fc2."),
        (r"layers\.(\d+)\.1\.(\d+)\.", r"stages.\1.blocks.\2."),
        (r"layers\.(\d+)\.2\.", r"stages.\1.norm."),
    ]),
    # MSCAN (segnext): 1-based patch_embed<i> / block<i> / norm<i> → 0-based stages of segfw.models.backbones.mscan
    "mscan": ("patch_embed1.proj.0.", [
        (r"patch_embed1\.proj\.", "stages.0.embed."),
        _stage(r"patch_embed(\d)\.proj\.", "embed.0."),
        _stage(r"patch_embed(\d)\.norm\.", "embed.1."),
        _stage(r"block(\d)\.(\d+)\.attn\.proj_1\.", "blocks.{}.attn.proj_in."),
        _stage(r"block(\d)\.(\d+)\.attn\.proj_2\.", "blocks.{}.attn.proj_out."),
        _stage(r"block(\d)\.(\d+)\.attn\.spatial_gating_unit\.conv0\.", "blocks.{}.attn.gate.local."),
        _stage(r"block(\d)\.(\d+)\.attn\.spatial_gating_unit\.conv(\d)_(\d)\.", "blocks.{}.attn.gate.branches.{}.{}.", 1),
        _stage(r"block(\d)\.(\d+)\.attn\.spatial_gating_unit\.conv3\.", "blocks.{}.attn.gate.mix."),
        _stage(r"block(\d)\.(\d+)\.mlp\.fc1\.", "blocks.{}.mlp.0."),
        _stage(r"block(\d)\.(\d+)\.mlp\.dwconv\.", "blocks.{}.mlp.1."),
        _stage(r"block(\d)\.(\d+)\.mlp\.fc2\.", "blocks.{}.mlp.3."),
        _stage(r"block(\d)\.(\d+)\.", "blocks.{}."),
        _stage(r"norm(\d)\.", "norm."),
    ]),
}
# mmseg keys of nn.Linear weights (C_out, C_in) that segfw holds as 1×1 convs (C_out, C_in, 1, 1)
_LINEAR_AS_CONV = ("decode_head.se_layer.weight",)
_MODULE_SUFFIXES: list[tuple[str, str]] = [
    (r"\.depthwise_conv\.", ".0."),
    (r"\.pointwise_conv\.", ".1."),
    (r"\.conv\.(weight|bias)$", r".0.\1"),
    (r"\.bn\.(\w+)$", r".1.\1"),
    (r"\.gn\.(\w+)$", r".1.\1"),  # ConvModule with GroupNorm (LightHamHead)
]


def decode_head_kind(state: Mapping[str, Tensor]) -> str:
    """Which mmseg decode head wrote ``state`` (a key of :data:`MMSEG_HEADS`)."""
    heads = {key[len("decode_head."):] for key in state if key.startswith("decode_head.")}
    for kind, (marker, _) in MMSEG_HEADS.items():
        if any(key.startswith(marker) for key in heads):
            return kind
    found = sorted({key.split(".")[0] for key in heads}) or ["none"]
    raise ConfigError(
        f"unsupported mmseg decode head (its modules: {', '.join(found)}); supported: {', '.join(MMSEG_HEADS)}"
    )


def mmseg_to_segfw(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an mmseg ``EncoderDecoder`` state dict (``module.`` stripped) to segfw's keys."""
    state = strip_prefixes(state, ("module.",))
    head_rules = MMSEG_HEADS[decode_head_kind(state)][1]
    backbone_rules = next((rules for marker, rules in MMSEG_BACKBONES.values()
                           if any(key.startswith("backbone." + marker) for key in state)), None)
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith("data_preprocessor."):
            continue
        if key.startswith("backbone."):
            new = key if backbone_rules is None else rename(key[len("backbone."):], backbone_rules)
            if new is None:
                unknown.append(key)
            else:
                out[key if backbone_rules is None else "backbone." + new] = value
            continue
        if key.startswith("decode_head."):
            new = rename(key[len("decode_head."):], head_rules)
        elif key.startswith("auxiliary_head."):
            new = rename(key[len("auxiliary_head."):], _FCN)
            new = None if new is None else "aux_head." + new
        else:
            new = None
        if new is None:
            unknown.append(key)
            continue
        for pattern, replacement in _MODULE_SUFFIXES:
            new = re.sub(pattern, replacement, new)
        out[new] = value.reshape(1) if new.endswith(".gamma") else value  # mmcv's Scale (γ) is 0-dim, ours (1,)
        if key in _LINEAR_AS_CONV:
            out[new] = value[:, :, None, None]
    if unknown:
        raise ConfigError(f"mmseg keys with no segfw counterpart: {', '.join(unknown[:4])}" + (" …" if len(unknown) > 4 else ""))
    return out


def mmseg_backbone_file(path: str, kind: str, download: str, ignore: tuple[str, ...] = ()) -> dict[str, Tensor]:
    """A local ImageNet checkpoint of an mmseg backbone (``kind`` a key of :data:`MMSEG_BACKBONES`) renamed to
    segfw's keys; ``state_dict``/``module.``/``backbone.`` wrappers removed, keys starting with ``ignore`` dropped.
    A missing file is one line naming ``model.backbone.pretrained`` and ``download`` (an example URL)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"model.backbone.pretrained: '{file}' does not exist; download mmseg's ImageNet weights "
            f"(e.g. {download}) on a machine with internet and give the local path, or null to train from scratch")
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = strip_prefixes(state.get("state_dict", state), ("module.", "backbone."))
    rules = MMSEG_BACKBONES[kind][1]
    return {rename(key, rules) or key: value for key, value in state.items() if not key.startswith(ignore)}
