"""SCTNet's official conv-former block (xzz777/SCTNet, ``mmseg/models/backbones/sctnet.py``, class ``CFBlock``:
``attn_l`` = ``ConvolutionalAttention``, ``mlp_l`` = ``MLP``) → segfw's ``sct_attention`` neck."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.module_keys import rename_modules

_MODULES = {"attn_l.norm": "norm", "mlp_l.norm": "mlp_norm", "mlp_l.conv1": "mlp_in", "mlp_l.conv2": "mlp_out"}
_KERNELS = {"attn_l.kv": "kernel_v", "attn_l.kv3": "kernel_h"}


def cfblock_to_segfw(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """An official ``CFBlock`` state dict (the keys under ``prefix``, e.g. ``"backbone.layer4."`` of an SCTNet
    checkpoint) renamed to :class:`segfw.models.necks.sct_attention.SCTAttentionBlock`'s keys."""
    state = {key: value for key, value in state.items() if key.startswith(prefix)}
    kernels = {ours: state.pop(prefix + official) for official, ours in _KERNELS.items() if prefix + official in state}
    return rename_modules(state, _MODULES, "SCTNet CFBlock", prefix) | kernels
