"""State dicts of reference implementations (mmsegmentation, SPNet's official code) renamed to segfw's.

Pure key renaming, no Hydra and no files: :func:`convert_state` takes a loaded state dict and
returns one that ``Segmentor.load_state_dict`` accepts for the matching preset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

from segfw.models.conversion.mmseg import mmseg_to_segfw
from segfw.models.conversion.spnet import spnet_to_segfw
from segfw.errors import ConfigError

CONVERTERS: dict[str, Callable[[Mapping[str, Tensor]], dict[str, Tensor]]] = {
    "mmseg": mmseg_to_segfw,
    "spnet": spnet_to_segfw,
}


def convert_state(source: str, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` in ``source``'s naming (``mmseg`` or ``spnet``) renamed to segfw's Segmentor keys."""
    if source not in CONVERTERS:
        raise ConfigError(f"from={source} is not supported; choose one of {', '.join(CONVERTERS)}")
    return CONVERTERS[source](state)
