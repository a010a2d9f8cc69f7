"""What ``resume=true`` may change: the saved run is the base, the command line's changes are listed, and
changes that would make it another experiment (the model, the classes, the schedule length) are refused
unless ``resume_allow_changes=true``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from segfw.errors import ConfigError

# keys that describe how this launch runs, not the run itself (``device`` is the run's unless the command
# line sets it: a resumed CPU run stays on the CPU, and a change is listed)
LAUNCH_KEYS = ("run_dir", "resume", "overwrite", "resume_allow_changes")
PROTECTED = ("model", "trainer.max_iters")  # the network and the length of the schedule


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists are leaves)."""
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_changes(saved: Mapping, current: Mapping) -> list[tuple[str, Any, Any]]:
    """``(key, saved value, new value)`` for every setting that differs, launch keys excluded."""
    before, after = flatten(saved), flatten(current)
    changes = []
    for key in sorted(set(before) | set(after)):
        if key.split(".")[0] in LAUNCH_KEYS:
            continue
        old, new = before.get(key, "<unset>"), after.get(key, "<unset>")
        if old != new:
            changes.append((key, old, new))
    return changes


def protected(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in PROTECTED)


def check_changes(changes: Sequence[tuple[str, Any, Any]], allow: bool, run_dir: str) -> None:
    """Refuse changes of :data:`PROTECTED` keys unless ``allow``."""
    refused = [f"{key}: {old} -> {new}" for key, old, new in changes if protected(key)]
    if refused and not allow:
        raise ConfigError(
            f"resume=true would change the run in {run_dir}: {'; '.join(refused)}; a resumed run continues the "
            "saved model and schedule: drop these overrides, start a new run_dir, or add resume_allow_changes=true"
        )


def check_world_size(saved: int | None, current: int, batch: int, allow: bool, run_dir: str, command: str) -> None:
    """A resumed run keeps its process count (under torchrun the global batch is processes × ``batch``);
    ``saved``: the checkpoint's count (None: a checkpoint from before it was saved, not checked)."""
    if saved is None or saved == current or allow:
        return
    raise ConfigError(
        f"resume=true: the run in {run_dir} was trained on {saved} process(es) (global batch {saved * batch}), this "
        f"launch has {current} (global batch {current * batch}), which changes the run; continue it with: {command} "
        "(or add resume_allow_changes=true)"
    )


def check_classes(saved: Sequence[str], current: Sequence[str], run_dir: str) -> None:
    """The dataset's classes must be the checkpoint's (a model cannot continue on other classes)."""
    if list(saved) != list(current):
        raise ConfigError(
            f"resume=true: the run in {run_dir} was trained on {len(saved)} classes ({', '.join(list(saved)[:4])}, ...)"
            f" but the dataset now has {len(current)} ({', '.join(list(current)[:4])}, ...); resume with the run's "
            "dataset or start a new run_dir"
        )


def describe_changes(changes: Sequence[tuple[str, Any, Any]]) -> str:
    """One line listing the command line's changes of a resumed run."""
    if not changes:
        return "resume: the saved config unchanged"
    return "resume: the saved config with " + ", ".join(f"{k}={new} (was {old})" for k, old, new in changes)
