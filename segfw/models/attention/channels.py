"""The reduced key/query width that attention necks derive from ``in_channels`` and ``reduction``."""

from __future__ import annotations

from segfw.errors import ConfigError


def reduced_channels(in_channels: int, reduction: int, heads: int = 1) -> int:
    """in_channels // reduction rounded down to a multiple of ``heads`` (at least ``heads``)."""
    if reduction < 1:
        raise ConfigError(f"'reduction' must be a positive integer, got {reduction}")
    return max(heads, in_channels // reduction // heads * heads)
