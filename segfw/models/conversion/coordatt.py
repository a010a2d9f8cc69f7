"""Coordinate attention's official module (houqb/CoordAttention, ``coordatt.py``, class ``CoordAtt``: ``conv1``,
``bn1``, ``conv_h``, ``conv_w``) → segfw's ``coordinate_attention`` neck."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.module_keys import rename_modules

_MODULES = {"conv1": "squeeze", "bn1": "norm", "conv_h": "excite_h", "conv_w": "excite_w"}


def coordatt_to_segfw(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """An official ``CoordAtt`` state dict (the keys under ``prefix``, e.g. ``"features.3.conv.4."`` of the
    authors' MobileNetV2) renamed to :class:`segfw.models.necks.coordinate_attention.CoordinateAttention`'s keys."""
    return rename_modules(state, _MODULES, "CoordAtt", prefix)
