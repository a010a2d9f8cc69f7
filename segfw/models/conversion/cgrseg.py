"""CGRSeg's official rectangular self-calibration module (nizhenliang/CGRSeg, ``mmseg/models/decode_heads/rcm.py``,
class ``RCM``: ``token_mixer`` = ``RCA``, ``norm``, ``mlp`` = ``ConvMlp``, ``gamma``) → segfw's ``rect_calibration``."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.module_keys import rename_modules

_MODULES = {
    "token_mixer.dwconv_hw": "local",
    "token_mixer.excite.0": "excite_h",
    "token_mixer.excite.1": "excite_norm",
    "token_mixer.excite.3": "excite_v",
    "norm": "norm",
    "mlp.fc1": "mlp_in",
    "mlp.fc2": "mlp_out",
    "": "",  # gamma
}


def rcm_to_segfw(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """An official ``RCM`` state dict (the keys under ``prefix``, e.g. ``"decode_head.<module>."`` of a CGRSeg
    checkpoint) renamed to :class:`segfw.models.necks.rect_calibration.RectCalibration`'s keys."""
    return rename_modules(state, _MODULES, "CGRSeg RCM", prefix)
