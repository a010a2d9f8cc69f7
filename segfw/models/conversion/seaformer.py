"""SeaFormer's official transformer block (fudan-zvg/SeaFormer, ``seaformer-seg/mmseg/models/backbones/seaformer.py``,
class ``Block``: ``attn`` = ``Sea_Attention``, ``mlp`` = ``Mlp``) → segfw's ``sea_attention`` neck."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.module_keys import rename_modules

_CONV_BN = {"attn.to_q": "to_q", "attn.to_k": "to_k", "attn.to_v": "to_v", "attn.dwconv": "detail_dw",
            "attn.pwconv": "detail_pw", "attn.proj.1": "proj", "attn.proj_encode_row.1": "rows.encode",
            "attn.proj_encode_column.1": "columns.encode", "mlp.fc1": "mlp_in", "mlp.fc2": "mlp_out"}
_MODULES = {f"{official}.{part}": f"{ours}.{index}" for official, ours in _CONV_BN.items()
            for part, index in (("c", 0), ("bn", 1))} | {"mlp.dwconv": "mlp_dw"}
_POSITIONS = {f"attn.pos_emb_{axis}{role}.pos_embed": f"{ours}.position_{role}"
              for axis, ours in (("row", "rows"), ("column", "columns")) for role in "qk"}


def seaformer_block_to_segfw(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """An official ``Block`` state dict (the keys under ``prefix``, e.g. ``"backbone.trans1.transformer_blocks.0."``
    of a SeaFormer checkpoint) renamed to :class:`segfw.models.necks.sea_attention.SeaAttentionBlock`'s keys."""
    state = {key: value for key, value in state.items() if key.startswith(prefix)}
    positions = {ours: state.pop(prefix + official) for official, ours in _POSITIONS.items() if prefix + official in state}
    return rename_modules(state, _MODULES, "SeaFormer Block", prefix) | positions
