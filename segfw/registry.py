"""Registries: short names → component constructors, built from config nodes.

A config node is a mapping ``{name: <registered name>, **kwargs}``. Unknown names fail listing the
registered names and the closest match; unknown keywords fail naming the component and the key.
Configs can only name registered components, never import arbitrary code.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from segfw.errors import ConfigError


class Registry:
    """A named table of constructors for one kind of component (backbone, neck, head, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}
        self._resolvers: list[Callable[[str], Callable[..., Any] | None]] = []

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a class or function under ``name``."""

        def decorate(obj: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            return obj

        return decorate

    def add_resolver(self, resolver: Callable[[str], Callable[..., Any] | None]) -> None:
        """Serve names that are not registered one by one: ``resolver(name)`` returns a constructor or None.

        E.g. every timm model name becomes a backbone without registering thousands of entries.
        """
        self._resolvers.append(resolver)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, Callable[..., Any]]]:
        """``(name, entry)`` pairs in the order they were registered."""
        return list(self._entries.items())

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            for resolver in self._resolvers:
                factory = resolver(str(name))
                if factory is not None:
                    return factory
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} '{name}'.{hint} Registered {self.kind}s: {', '.join(self.names())}"
            )
        return self._entries[name]

    def node(self, entry: Any, key: str, settings: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
        """An entry of a list of components (config key ``key``) as a config node: ``evaluate`` →
        ``{name: evaluate}``; a ``{name: ..., **kwargs}`` node as it is. ``settings``: the configured keys of
        each component by name (``trainer.hook``, ``trainer.logger``), under the entry's own keys."""
        if isinstance(entry, str):
            entry = {"name": entry}
        if isinstance(entry, Mapping) and "name" in entry:
            return {**dict((settings or {}).get(entry["name"]) or {}), **dict(entry)}
        raise ConfigError(f"{key} holds {entry!r}; give a {self.kind} name ({', '.join(self.names())}) "
                          f"or a node {{name: <{self.kind}>, ...}}")

    def build(self, node: Mapping[str, Any], **context: Any) -> Any:
        """Build the component a config node names.

        ``context`` holds arguments the framework supplies (e.g. ``in_specs``, ``num_classes``); they
        are passed only when the constructor accepts them, and a config value of null for such a
        key means "supplied by the framework" (e.g. a neck's ``output_stride: null``).
        """
        kwargs = dict(node)
        if "name" not in kwargs:
            raise ConfigError(f"a {self.kind} config needs a 'name' key (one of: {', '.join(self.names())})")
        name = kwargs.pop("name")
        kwargs = {k: v for k, v in kwargs.items() if not (v is None and k in context)}
        factory = self.get(name)
        accepted = accepted_keywords(factory)
        if accepted is not None:
            unknown = sorted(set(kwargs) - accepted)
            if unknown:
                valid = sorted(accepted - set(context))
                raise ConfigError(
                    f"{self.kind} '{name}' has no parameter '{unknown[0]}'. Its parameters: {', '.join(valid)}"
                )
            context = {k: v for k, v in context.items() if k in accepted}
        return factory(**{**context, **kwargs})


def accepted_keywords(factory: Callable[..., Any]) -> set[str] | None:
    """Keyword names ``factory`` accepts, or None when it takes ``**kwargs``."""
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


BACKBONES = Registry("backbone")
NECKS = Registry("neck")
HEADS = Registry("head")
LOSSES = Registry("loss")
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")  # segfw's own; a recipe may also name any albumentations transform
METRICS = Registry("metric")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("scheduler")
SCORES = Registry("attention score")  # segfw.models.attention.scores: q, k -> similarity
NORMALIZERS = Registry("attention normalizer")  # segfw.models.attention.normalizers: scores -> weights
LOGGERS = Registry("logger")  # segfw.engine.loggers: where a run's curves, images and config go
HOOKS = Registry("hook")  # segfw.engine.hooks: what runs before/after training and each step

ALL_REGISTRIES = (BACKBONES, NECKS, HEADS, LOSSES, DATASETS, TRANSFORMS, METRICS, OPTIMIZERS, SCHEDULERS, SCORES,
                  NORMALIZERS, LOGGERS, HOOKS)
