"""What every tool does around its work: its config checked key by key, one clear line for a user's
mistake, exit codes for signals.

A user's mistake is a :data:`segfw.errors.USER_ERRORS` exception (a bad config key or value, a missing
or unusable file the user named) or a command-line override the tool cannot use (an unknown key, a key
the tool does not read, an unknown config group option). Each is printed as ``error: <what and the
fix>`` on one line, exit status 2; so are running out of memory (naming the knobs to lower) and a path
that cannot be written (read-only, a file where a folder should be). Anything else is a bug in segfw and
keeps its full traceback.
"""

from __future__ import annotations

import difflib
import errno
import functools
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from segfw.errors import USER_ERRORS, one_line

EXIT_USER_ERROR = 2
FILE_PROBLEMS = {  # errno of an output path the user named → what to do
    errno.EACCES: "permission denied; choose a folder you may write to",
    errno.EPERM: "permission denied; choose a folder you may write to",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.ENOSPC: "the disk is full; free space or choose another folder",
    errno.ENOTDIR: "a file is where a folder is expected; choose another path or remove the file",
    errno.EEXIST: "a file is where a folder is expected; choose another path or remove the file",
    errno.EISDIR: "a folder is where a file is expected; give a file path",
}


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (``torch.OutOfMemoryError``, ``MemoryError``, or a
    RuntimeError saying "out of memory" / "can't allocate memory" from a CPU allocator)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in text or "allocate memory" in text


def user_errors_as_one_line(fn: Callable) -> Callable:
    """Run ``fn``; a configuration or data mistake prints ``error: <what and the fix>`` and exits 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from segfw.engine.stop_signals import StopRequested

        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as error:
            fail(one_line(error))
        except StopRequested as stop:
            sys.exit(128 + int(stop.args[0]))
        except (MemoryError, RuntimeError) as error:
            if not out_of_memory(error):
                raise
            fail(f"out of memory ({one_line(error)[:200] or type(error).__name__}); lower the work per step: "
                 "trainer.batch_size / test.batch_size / test.window_batch, test.mode=slide with a smaller "
                 "test.crop_size, fewer test.scales, or a smaller image")
        except OSError as error:
            if error.errno not in FILE_PROBLEMS:
                raise
            fail(f"{error.filename or 'a file'}: {FILE_PROBLEMS[error.errno]} ({error.strerror})")

    return wrapper


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def hydra_tool(config_name: str) -> Callable[[Callable], Callable[[], None]]:
    """Decorator making ``fn(cfg)`` a tool on ``configs/<config_name>.yaml`` and its schema.

    Before Hydra runs, the command line is composed once against the tool's schema: an override the tool
    cannot use stops the tool with one line naming the key and the closest valid one.
    """
    import hydra

    from segfw.config import CONFIG_DIR, register_schemas

    def decorate(fn: Callable) -> Callable[[], None]:
        register_schemas()
        app = hydra.main(config_path=str(CONFIG_DIR), config_name=config_name, version_base=None)(
            user_errors_as_one_line(fn))

        @functools.wraps(fn)
        def run() -> None:
            sys.argv[1:] = saved_dataset_overrides(config_name, sys.argv[1:])
            problem = override_problem(config_name, sys.argv[1:], f"tools/{Path(sys.argv[0]).name}")
            if problem:
                fail(problem)
            app()

        return run

    return decorate


def saved_dataset_overrides(config_name: str, argv: Sequence[str]) -> list[str]:
    """``argv`` where a saved run's dataset is continued (``train`` with ``resume=true``, ``eval`` of a ``run_dir``
    or ``checkpoint``) and no ``dataset=`` group is named: each ``dataset.KEY=V`` as ``++dataset.KEY=V``.

    The run's dataset (e.g. ``folder``) is only known once its saved config is read, after Hydra composed the
    tool's default one (``synthetic``, which has no ``root``); ``++`` sets the key whichever dataset composes, and
    the saved dataset gets it, so ``resume=true dataset.root=/new`` moves the data without ``dataset=folder``."""
    argv = list(argv)
    saved = {"train": lambda a: a.lower() == "resume=true", "eval": lambda a: a.startswith(("run_dir=", "checkpoint="))}
    continues = saved.get(config_name)
    if continues is None or not any(continues(a) for a in argv) or any(a.lstrip("+").startswith("dataset=") for a in argv):
        return argv
    return [f"++{a}" if a.startswith("dataset.") else a for a in argv]


def override_problem(config_name: str, argv: Sequence[str], tool: str = "the tool") -> str | None:
    """One line saying why ``argv``'s overrides do not fit ``configs/<config_name>.yaml``; None when they do.

    Sweeps (``--multirun a=1,2``) are checked with their first value. Command lines with Hydra's own
    options other than ``--multirun`` are left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from segfw.config import compose_config

    if any(arg.startswith("-") and arg not in ("-m", "--multirun") for arg in argv):
        return None
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in argv if not a.startswith("-")])
    except HydraException as error:
        return _hydra_message(error)
    parsed = [o for o in parsed if not o.key_or_group.startswith("hydra")]
    overrides = [_first_value(o) for o in parsed]
    try:
        compose_config(config_name, overrides)
    except (HydraException, OmegaConfBaseException) as error:
        key = _failed_key(error)
        if key:
            others = [o for o, p in zip(overrides, parsed) if p.key_or_group.lstrip("+~") != key]
            return _unread_key_message(tool, key, _valid_config(config_name, others))
        return _hydra_message(error)
    for override in parsed:
        if override.is_add() and override.key_or_group.split(".")[0] not in _schema_fields(config_name):
            return _unread_key_message(tool, override.key_or_group, _valid_config(config_name, []))
    return None


def _valid_config(config_name: str, overrides: list[str]):
    """The config composed with ``overrides`` when they compose, else the tool's defaults."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from segfw.config import compose_config

    try:
        return compose_config(config_name, overrides)
    except (HydraException, OmegaConfBaseException):
        return compose_config(config_name, [])


def _first_value(override) -> str:
    if not override.is_sweep_override():
        return override.input_line
    prefix = "+" if override.is_add() else ""
    return f"{prefix}{override.get_key_element().lstrip('+')}={next(iter(override.sweep_string_iterator()))}"


def _schema_fields(config_name: str) -> set[str]:
    import dataclasses

    from segfw.config import SCHEMAS

    schema = SCHEMAS[config_name]
    return set(schema) if isinstance(schema, dict) else {f.name for f in dataclasses.fields(schema)}


def _failed_key(error: BaseException) -> str | None:
    """The key of a "Could not override 'KEY'" / "Key 'x' is not in struct (full_key: KEY)" error."""
    text = str(error)
    match = re.search(r"Could not override '([^']+)'", text)
    return match.group(1) if match else None


def _keys(node, prefix: str = "") -> Iterator[str]:
    """Every dotted key of a composed config, nodes and leaves (Hydra's own node excluded)."""
    from omegaconf import DictConfig

    for key in node.keys() if isinstance(node, DictConfig) else ():
        if key == "hydra":
            continue
        path = f"{prefix}{key}"
        yield path
        value = node._get_node(key)
        if isinstance(value, DictConfig) and not value._is_missing() and not value._is_none():
            yield from _keys(value, f"{path}.")


def _unread_key_message(tool: str, key: str, config) -> str:
    keys = list(_keys(config))
    close = difflib.get_close_matches(key, [k for k in keys if k != key], n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    tops = sorted(k for k in keys if "." not in k)
    return f"{tool} does not read '{key}'{hint} (its keys: {', '.join(tops)})"


def _hydra_message(error: BaseException) -> str:
    """Hydra's message on one line, with the closest option when a config group option is unknown."""
    text = f"{error}\n{error.__cause__}" if error.__cause__ else str(error)
    missing = re.search(r"Could not find '([^']+)'", text)
    options = re.search(r"Available options in '([^']+)':\n((?:[ \t]+\S+\n?)*)", text)
    if missing and options:
        group, choices = options.group(1), options.group(2).split()
        wanted = missing.group(1).rpartition("/")[2]
        close = difflib.get_close_matches(wanted, choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown {group} '{wanted}'{hint} (options: {', '.join(choices)})"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("object_type", "reference_type", "Set the environment",
                                                           "full_key"))]
    return " ".join(kept) or type(error).__name__
