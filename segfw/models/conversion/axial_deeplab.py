"""Axial-DeepLab's official axial-attention block (csrhddlam/axial-deeplab, ``lib/models/axialnet.py``, class
``AxialBlock``: ``conv_down``, ``bn1``, ``hight_block`` and ``width_block`` = ``AxialAttention``, ``conv_up``,
``bn2``) → segfw's ``axial_attention`` neck."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from segfw.errors import ConfigError
from segfw.models.conversion.module_keys import rename_modules

_ATTENTION = {"": "", "qkv_transform": "qkv", "bn_qkv": "qkv_norm", "bn_similarity": "similarity_norm",
              "bn_output": "output_norm"}
_MODULES = {"conv_down": "down", "bn1": "down_norm", "conv_up": "up", "bn2": "up_norm",
            **{f"{official}.{inner}".rstrip("."): f"{ours}.{segfw_inner}".rstrip(".")
               for official, ours in (("hight_block", "height"), ("width_block", "width"))
               for inner, segfw_inner in _ATTENTION.items()}}


def _relative_to_span(table: Tensor, span: int, key: str) -> Tensor:
    """An official (c, 2K − 1) offset table as segfw's (c, 2·span − 1): the same embeddings for the offsets
    −(K−1)..K−1, the edge ones repeated beyond (exact for every axis of length ≤ K)."""
    kernel = (table.shape[1] + 1) // 2
    if kernel > span:
        raise ConfigError(f"{key}: the official kernel_size {kernel} is longer than segfw's span {span}; "
                          f"build axial_attention with span ≥ {kernel}")
    pad = span - kernel
    return torch.cat([table[:, :1].expand(-1, pad), table, table[:, -1:].expand(-1, pad)], dim=1)


def axial_block_to_segfw(state: Mapping[str, Tensor], prefix: str = "", span: int = 64) -> dict[str, Tensor]:
    """An official ``AxialBlock`` state dict (the keys under ``prefix``, e.g. ``"layer3.0."`` of an Axial-ResNet
    checkpoint) as :class:`segfw.models.necks.axial_attention.AxialAttentionBlock`'s, for a block built with
    ``span``. The buffers ``flatten_index`` are dropped (segfw derives the offsets); the official output
    BatchNorm interleaves the value and value-embedding channels (2c, 2c + 1), segfw's stacks them (c, C + c)."""
    state = {k: v for k, v in state.items() if not k.endswith(".flatten_index")}
    out = rename_modules(state, _MODULES, "Axial-DeepLab AxialBlock", prefix)
    for axis in ("height", "width"):
        out[f"{axis}.relative"] = _relative_to_span(out[f"{axis}.relative"], span, f"{axis}.relative")
        for name in ("weight", "bias", "running_mean", "running_var"):
            key = f"{axis}.output_norm.{name}"
            out[key] = out[key].view(-1, 2).t().reshape(-1)
    return out
