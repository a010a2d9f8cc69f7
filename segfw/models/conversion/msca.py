"""SegNeXt's official attention sub-layer (Visual-Attention-Network/SegNeXt, ``mmseg/models/backbones/mscan.py``,
class ``SpatialAttention``: ``proj_1``, ``spatial_gating_unit`` = ``AttentionModule``, ``proj_2``) → segfw's ``msca``
neck (and an MSCAN block's ``attn``)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.module_keys import rename_modules

_MODULES = {
    "proj_1": "proj_in",
    "spatial_gating_unit.conv0": "gate.local",
    **{f"spatial_gating_unit.conv{i}_{j}": f"gate.branches.{i}.{j - 1}" for i in range(3) for j in (1, 2)},
    "spatial_gating_unit.conv3": "gate.mix",
    "proj_2": "proj_out",
}


def msca_to_segfw(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """An official ``SpatialAttention`` state dict (the keys under ``prefix``, e.g. ``"block4.0.attn."`` of an MSCAN
    checkpoint) renamed to :class:`segfw.models.necks.msca.MSCA`'s keys."""
    return rename_modules(state, _MODULES, "SegNeXt MSCA", prefix)
