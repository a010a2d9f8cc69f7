"""Ordered regex renaming of state-dict keys."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

Rule = tuple[str, str | Callable[[re.Match], str]]


def rename(key: str, rules: Sequence[Rule]) -> str | None:
    """``key`` rewritten by the first rule whose pattern matches its start, or None when none does."""
    for pattern, replacement in rules:
        renamed, count = re.subn(f"^{pattern}", replacement, key, count=1)
        if count:
            return renamed
    return None


def shifted(prefix: str, group: int = 1, by: int = 1) -> Callable[[re.Match], str]:
    """A replacement writing ``prefix`` + (the matched index + ``by``) + ``.``: mmseg's separate image
    pool becomes branch 0 of our ASPP, its other branches move up by one."""
    return lambda m: f"{prefix}{int(m.group(group)) + by}."
