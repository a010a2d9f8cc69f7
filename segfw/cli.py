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

    from segfw.config import CONFIG_DIR, register_schemas, search_path_overrides

    def decorate(fn: Callable) -> Callable[[], None]:
        register_schemas()
        app = hydra.main(config_path=str(CONFIG_DIR), config_name=config_name, version_base=None)(
            user_errors_as_one_line(fn))

        @functools.wraps(fn)
        def run() -> None:
            load_plugins()
            sys.argv[1:] = saved_dataset_overrides(config_name, sys.argv[1:])
            problem = override_problem(config_name, sys.argv[1:], f"tools/{Path(sys.argv[0]).name}")
            if problem:
                fail(problem)
            sys.argv += search_path_overrides()  # $SEGFW_CONFIGS: a plugin's YAML files
            app()

        return run

    return decorate


def load_plugins() -> None:
    """The modules of ``$SEGFW_PLUGINS`` imported (:func:`segfw.autoimport.import_plugins`); a bad name or
    ``$SEGFW_CONFIGS`` folder is one line."""
    from segfw.autoimport import import_plugins
    from segfw.config import config_search_path

    try:
        import_plugins()
        config_search_path()
    except USER_ERRORS as error:
        fail(one_line(error))


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


def legacy_flags(argv: Sequence[str], fields: Sequence[str], lists: Sequence[str] = (),
                 positional: Sequence[str] = ()) -> list[str]:
    """``argv`` with the former argparse spellings as ``key=value`` overrides: ``--batch-size 4`` →
    ``batch_size=4``, ``--sizes 32 64`` → ``sizes=[32,64]``, ``--no-memory`` → ``memory=false``, a bare flag →
    ``key=true``, and leading bare words → the ``positional`` keys in order. Each translation prints one
    deprecation line on stderr. ``fields``: the tool's keys (``lists``: those holding lists); ``-h``/``--help`` and
    ``key=value`` pass as they are."""
    out, given, i, words = [], [], 0, list(positional)
    while i < len(argv):
        arg = argv[i]
        name = arg[2:].replace("-", "_") if arg.startswith("--") and "=" not in arg else None
        if name is not None and (name in fields or (name.startswith("no_") and name[3:] in fields)):
            values = []
            i += 1
            while i < len(argv) and "=" not in argv[i] and not argv[i].startswith("--"):
                values.append(argv[i])
                i += 1
            if name not in fields:
                new = f"{name[3:]}=false"
            elif not values:
                new = f"{name}=true"
            else:
                new = f"{name}={values[0]}" if len(values) == 1 and name not in lists else f"{name}=[{','.join(values)}]"
            given.append((" ".join([arg, *values]), new))
            out.append(new)
            continue
        if words and "=" not in arg and not arg.startswith("-"):
            new = f"{words.pop(0)}={arg}"
            given.append((arg, new))
            out.append(new)
        else:
            words.clear()
            out.append(arg)
        i += 1
    if given:
        print("deprecated: " + ", ".join(f"'{old}' is now '{new}'" for old, new in given), file=sys.stderr)
    return out


def _list_fields(schema) -> set[str]:
    """The fields of a schema dataclass typed as lists (``list[int]``, ``Optional[list[str]]``)."""
    import typing

    hints = typing.get_type_hints(schema)
    return {name for name, hint in hints.items()
            if typing.get_origin(hint) is list or any(typing.get_origin(a) is list for a in typing.get_args(hint))}


def key_value_tool(config_name: str, positional: Sequence[str] = ()) -> Callable[[Callable], Callable]:
    """Decorator making ``fn(cfg)`` a tool that takes ``key=value`` overrides of ``configs/<config_name>.yaml``
    (checked against its schema by :func:`override_problem`, like the Hydra tools), ``--help`` listing its keys,
    and its former ``--flag value`` spellings with a deprecation line (:func:`legacy_flags`). The tool is
    ``main(argv=None)`` (``sys.argv[1:]`` when None), so it is callable from Python and tests."""
    import dataclasses

    from segfw.config import CONFIG_DIR, SCHEMAS, compose_config

    def decorate(fn: Callable) -> Callable:
        schema = SCHEMAS[config_name]
        fields, lists = [f.name for f in dataclasses.fields(schema)], _list_fields(schema)

        @functools.wraps(fn)
        @user_errors_as_one_line
        def main(argv: Sequence[str] | None = None):
            argv = legacy_flags(list(sys.argv[1:] if argv is None else argv), fields, lists, positional)
            tool = f"tools/{config_name}.py"
            if "-h" in argv or "--help" in argv:
                about = (fn.__globals__.get("__doc__") or "").strip()
                text = (CONFIG_DIR / f"{config_name}.yaml").read_text()
                print(f"usage: python {tool} [key=value ...]\n\n{about}\n\nkeys (configs/{config_name}.yaml):\n{text}")
                return None
            problem = override_problem(config_name, argv, tool)
            if problem:
                fail(problem)
            return fn(compose_config(config_name, argv))

        return main

    return decorate
