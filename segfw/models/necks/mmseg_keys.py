"""Where mmsegmentation's NL, CC and DA decode-head weights live in segfw's neck + head split.

mmseg puts the whole context module in its decode head (``decode_head.*``); segfw splits it into a
neck (``neck.*``: reduction conv, attention, conv after it, concat_input conv) and a classifier
head (``head.*``), plus side heads for DANet's PAM-only and CAM-only classifiers
(``side_heads.pam.*``, ``side_heads.cam.*``). :func:`decode_head_renames` gives, per mmseg head
type, the prefix renames that carry an mmseg state dict over (applied by
:func:`rename_decode_head`).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

STAGE = "neck.block"  # a ContextStage: .reduce / .block / .project / .fuse
CLASSIFIER = "head.classifier.1"


def _conv_module(src: str, dst: str) -> list[tuple[str, str]]:
    """mmcv ``ConvModule`` (``conv``, ``bn``) → segfw ``ConvBNReLU`` (``0``, ``1``)."""
    return [(f"{src}.conv.", f"{dst}.0."), (f"{src}.bn.", f"{dst}.1.")]


def _stage(block_renames: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """mmseg's FCNHead-derived NL/CC heads: convs.0 → reduce, convs.1 → project, conv_cat → fuse."""
    return [
        *_conv_module("convs.0", f"{STAGE}.reduce"),
        *_conv_module("convs.1", f"{STAGE}.project"),
        *_conv_module("conv_cat", f"{STAGE}.fuse"),
        *block_renames,
        ("conv_seg.", f"{CLASSIFIER}."),
    ]


_RENAMES = {
    "FCNHead": _stage([]),  # FCNHead(num_convs=2, concat_input=True) = the identity neck in a ContextStage
    "NLHead": _stage([
        ("nl_block.theta.conv.", f"{STAGE}.block.attention.query."),
        ("nl_block.phi.conv.", f"{STAGE}.block.attention.key."),
        ("nl_block.g.conv.", f"{STAGE}.block.attention.value."),
        *_conv_module("nl_block.conv_out", f"{STAGE}.block.project"),
    ]),
    "CCHead": _stage([
        ("cca.query_conv.", f"{STAGE}.block.query."),
        ("cca.key_conv.", f"{STAGE}.block.key."),
        ("cca.value_conv.", f"{STAGE}.block.value."),
        ("cca.gamma.scale", f"{STAGE}.block.gamma"),
    ]),
    "DAHead": [
        *_conv_module("pam_in_conv", "neck.block.position.0"),
        ("pam.query_project.", "neck.block.position.1.attention.query."),
        ("pam.key_project.", "neck.block.position.1.attention.key."),
        ("pam.value_project.", "neck.block.position.1.attention.value."),
        ("pam.gamma.scale", "neck.block.position.1.gamma"),
        *_conv_module("pam_out_conv", "neck.block.position.2"),
        *_conv_module("cam_in_conv", "neck.block.channel.0"),
        ("cam.gamma.scale", "neck.block.channel.1.gamma"),
        *_conv_module("cam_out_conv", "neck.block.channel.2"),
        ("pam_conv_seg.", "side_heads.pam.classifier.1."),
        ("cam_conv_seg.", "side_heads.cam.classifier.1."),
        ("conv_seg.", f"{CLASSIFIER}."),
    ],
}


def decode_head_renames(head_type: str) -> list[tuple[str, str]]:
    """(mmseg key prefix relative to ``decode_head.``, segfw key prefix) pairs for ``head_type``
    (``NLHead``, ``CCHead``, ``DAHead``, or ``FCNHead`` with two convs and concat_input as the
    identity neck with ``reduce`` and ``concat_input`` — the fair baseline of the context ablation)."""
    if head_type not in _RENAMES:
        raise KeyError(f"no segfw mapping for mmseg decode head '{head_type}'; known: {', '.join(_RENAMES)}")
    return _RENAMES[head_type]


def rename_decode_head(state: Mapping[str, Tensor], head_type: str, prefix: str = "decode_head.") -> dict[str, Tensor]:
    """The ``prefix``-ed keys of an mmseg state dict, renamed to segfw's; other keys are left out.

    A key under ``prefix`` that no rename covers raises ``KeyError`` naming it, so a mapping that
    forgets a weight cannot go unnoticed.
    """
    renames = decode_head_renames(head_type)
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        local = key[len(prefix):]
        match = next(((src, dst) for src, dst in renames if local.startswith(src)), None)
        if match is None:
            raise KeyError(f"mmseg key '{key}' has no segfw counterpart for {head_type}")
        new_key = match[1] + local[len(match[0]):]
        out[new_key] = value.reshape(1) if new_key.endswith("gamma") else value  # mmcv Scale: 0-dim
    return out
