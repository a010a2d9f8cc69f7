"""Loading state dicts written elsewhere: strip wrapper prefixes, name what does not fit in one line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from torch import Tensor, nn

from segfw.errors import ConfigError

WRAPPER_PREFIXES = ("module.", "backbone.")


def strip_prefixes(state: Mapping[str, Tensor], prefixes: Iterable[str] = WRAPPER_PREFIXES) -> dict[str, Tensor]:
    """Keys with any leading ``prefixes`` removed (repeatedly: ``module.backbone.x`` → ``x``)."""
    prefixes = tuple(prefixes)
    out = {}
    for key, value in state.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix):], True
        out[key] = value
    return out


def _listing(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_checked(module: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """``module.load_state_dict(state)``, but a mismatch is one ``ConfigError`` line.

    The line names ``source`` (a file or weight name), the missing and unexpected keys (first
    few of each) and the first shape mismatch.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_listing(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_listing(unexpected)})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches ({_listing(shapes, 2)})")
        raise ConfigError(f"{source} does not fit {type(module).__name__}: {'; '.join(parts)}")
    module.load_state_dict(state)
