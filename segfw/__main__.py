"""``python -m segfw list``: every registered component, by kind."""

from __future__ import annotations

import argparse
import inspect

import segfw
import segfw.engine.hooks  # noqa: F401  (registers the hooks)
import segfw.engine.loggers  # noqa: F401  (registers the loggers)
import segfw.engine.optim  # noqa: F401  (registers optimizers and schedulers)
from segfw.cli import load_plugins


def describe(factory) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.splitlines()[0] if doc else ""


def list_components() -> str:
    lines = []
    for registry in segfw.ALL_REGISTRIES:
        lines.append(f"[{registry.kind}]")
        width = max((len(n) for n in registry.names()), default=0)
        for name in registry.names():
            lines.append(f"  {name:<{width}}  {describe(registry.get(name))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="segfw", description=__doc__)
    parser.add_argument("command", choices=["list"], help="list: print every registered block by kind")
    parser.parse_args(argv)
    load_plugins()  # $SEGFW_PLUGINS: a user's own components, listed with the others
    print(list_components())


if __name__ == "__main__":
    main()
