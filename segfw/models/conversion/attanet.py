"""AttaNet's official strip attention module (songqi-github/AttaNet, ``AttaNet.py``, class
``StripAttentionModule``: ``conv1`` / ``conv2`` / ``conv3``, each ConvBNReLU with ``conv`` and ``bn``)
→ segfw's ``atta_strip`` neck."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.module_keys import rename_modules

_MODULES = {f"{official}.{part}": f"{ours}.{index}" for official, ours in
            (("conv1", "query"), ("conv2", "key"), ("conv3", "value")) for part, index in (("conv", 0), ("bn", 1))}


def attanet_sam_to_segfw(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """An official ``StripAttentionModule`` state dict (the keys under ``prefix``, e.g. ``"head.sam."`` of an
    AttaNet checkpoint) renamed to :class:`segfw.models.necks.atta_strip.AttaStrip`'s keys."""
    return rename_modules(state, _MODULES, "AttaNet SAM", prefix)
