"""The neck contract: a context block applied to one named feature level."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, deepest_level, require_level
from segfw.registry import NECKS, ConfigError, accepted_keywords


class LevelNeck(nn.Module):
    """Runs ``block`` on ``feats[level]`` and passes the other levels through.

    ``forward(feats: dict[str, (B, C, H, W)]) -> dict`` with ``feats[level]`` replaced by
    ``block(feats[level])`` of shape (B, block.out_channels or C, H, W). ``out_specs`` publishes
    the resulting levels.
    """

    def __init__(self, block: nn.Module, in_specs: Mapping[str, FeatureSpec], level: str):
        super().__init__()
        self.block = block
        self.level = level
        spec = in_specs[level]
        channels = getattr(block, "out_channels", spec.channels)
        self.out_specs = {**in_specs, level: FeatureSpec(channels, spec.stride)}

    def forward(self, feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = dict(feats)
        out[self.level] = self.block(feats[self.level])
        return out


def build_neck(node: Mapping[str, Any], in_specs: Mapping[str, FeatureSpec]) -> LevelNeck:
    """Build the neck a config node names.

    Registered necks are plain block classes whose first argument is ``in_channels``; ``level``
    (default: the deepest) picks the feature they rewrite. A neck that takes ``output_stride`` gets
    the stride of that level when its config leaves it null.
    """
    kwargs = dict(node)
    level = kwargs.pop("level", None) or deepest_level(dict(in_specs))
    name = kwargs.get("name")
    spec = require_level(dict(in_specs), level, f"neck '{name}'")
    accepted = accepted_keywords(NECKS.get(name)) if name in NECKS else None
    if accepted is not None and "in_channels" not in accepted:
        raise ConfigError(f"neck '{name}' must take 'in_channels' as its first argument")
    block = NECKS.build(kwargs, in_channels=spec.channels, output_stride=spec.stride)
    return LevelNeck(block, in_specs, level)
