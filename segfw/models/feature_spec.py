"""The shape contract between blocks: what each named feature level holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """A feature level: ``channels`` C and ``stride`` s, i.e. a tensor (B, C, H/s, W/s)."""

    channels: int
    stride: int


def deepest_level(specs: dict[str, FeatureSpec]) -> str:
    """Name of the level with the largest stride (the last one on ties)."""
    return max(reversed(list(specs)), key=lambda name: specs[name].stride)


def require_level(specs: dict[str, FeatureSpec], level: str, owner: str) -> FeatureSpec:
    """The spec of ``level``, or a clear error naming the levels that exist."""
    if level not in specs:
        from segfw.errors import ConfigError

        raise ConfigError(f"{owner} reads level '{level}', but the features have only: {', '.join(specs)}")
    return specs[level]
