"""Renaming the state dict of one authors' module (not a whole model) to the keys of segfw's block."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segfw.errors import ConfigError


def rename_modules(state: Mapping[str, Tensor], modules: Mapping[str, str], source: str,
                   prefix: str = "") -> dict[str, Tensor]:
    """``state``'s keys under ``prefix`` with their module path (``"spatial_gating_unit.conv0h"``) replaced by
    segfw's (``modules[path]``); keys outside ``prefix`` are ignored, an unknown module under it is an error."""
    out, unknown = {}, []
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        module, _, tensor = key[len(prefix):].rpartition(".")
        if module not in modules:
            unknown.append(key)
            continue
        out[f"{modules[module]}.{tensor}" if modules[module] else tensor] = value
    if unknown:
        raise ConfigError(f"{source} keys with no segfw counterpart: {', '.join(unknown[:4])}"
                          + (" …" if len(unknown) > 4 else ""))
    return out
