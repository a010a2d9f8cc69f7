"""LSKA's official attention sub-layer (StevenLauHKHK/Large-Separable-Kernel-Attention, ``models/van.py``,
class ``Attention``: ``proj_1``, ``spatial_gating_unit`` = ``LSKA``, ``proj_2``) → segfw's ``lska`` neck."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.module_keys import rename_modules

_MODULES = {
    "proj_1": "proj_in",
    "spatial_gating_unit.conv0h": "local_h",
    "spatial_gating_unit.conv0v": "local_v",
    "spatial_gating_unit.conv_spatial_h": "dilated_h",
    "spatial_gating_unit.conv_spatial_v": "dilated_v",
    "spatial_gating_unit.conv1": "mix",
    "proj_2": "proj_out",
}


def lska_to_segfw(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """An official ``Attention`` state dict (the keys under ``prefix``, e.g. ``"block3.0.attn."`` of a VAN-LSKA
    checkpoint) renamed to :class:`segfw.models.necks.lska.LargeSeparableKernelAttention`'s keys."""
    return rename_modules(state, _MODULES, "LSKA", prefix)
