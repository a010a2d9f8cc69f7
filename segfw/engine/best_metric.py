"""Which evaluation metric ``best.pt`` keeps: ``trainer.best_metric`` (any metric) and ``trainer.best_mode``."""

from __future__ import annotations

from collections.abc import Mapping

from segfw.errors import ConfigError

MODES = ("max", "min")


def metric_value(summary: Mapping, name: str) -> float | None:
    """The value of ``name`` in an evaluation summary: a mean (``mIoU``, ``mDice``, ``aAcc``...) or one
    class of a per-class table, ``<table>/<class>`` (``per_class_dice/pole``; ``per_class`` is IoU)."""
    if "/" in name:
        table, _, class_name = name.partition("/")
        values = summary.get(table)
        if table.startswith("per_class") and isinstance(values, Mapping) and class_name in values:
            return values[class_name]
    elif name in summary and not isinstance(summary[name], Mapping):
        return summary[name]
    raise ConfigError(f"trainer.best_metric={name} is not an evaluation metric; choose one of {', '.join(metric_names(summary))}")


def metric_names(summary: Mapping) -> list[str]:
    """Every name :func:`metric_value` accepts for ``summary`` (means first, then ``<table>/<class>``)."""
    means = [k for k, v in summary.items() if not isinstance(v, Mapping)]
    tables = [f"{k}/{c}" for k, v in summary.items() if k.startswith("per_class") and isinstance(v, Mapping) for c in v]
    return means + tables


class BestMetric:
    """Tracks the best value of one metric over evaluations; ``update(summary) -> improved?``.

    ``mode``: ``max`` (IoU, Dice, accuracy) or ``min`` (an error or a loss); a metric that is None
    (e.g. a class absent from the validation set) never counts as an improvement.
    """

    def __init__(self, name: str = "mIoU", mode: str = "max"):
        if mode not in MODES:
            raise ConfigError(f"trainer.best_mode must be max or min, got '{mode}'")
        self.name, self.mode = name, mode
        self.value: float | None = None
        self.iteration: int | None = None

    def update(self, summary: Mapping, iteration: int) -> bool:
        value = metric_value(summary, self.name)
        if value is None:
            return False
        improved = self.value is None or (value > self.value if self.mode == "max" else value < self.value)
        if improved:
            self.value, self.iteration = float(value), iteration
        return improved

    def state_dict(self) -> dict:
        return {"name": self.name, "mode": self.mode, "value": self.value, "iteration": self.iteration}

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("name") == self.name and state.get("mode") == self.mode:  # a changed metric starts afresh
            self.value, self.iteration = state.get("value"), state.get("iteration")
