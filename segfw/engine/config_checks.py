"""Range checks of a composed config, before anything is built: every bad value is one line naming the key.

The schemas (``segfw.config``) check types; these check what a type cannot say: ``trainer.batch_size=0``,
``trainer.eval_interval=0``, ``trainer.crop_size=[64]``, ``optimizer.lr=fast``, ``test.mode=slid``, an
unset ``dataset.root``. :func:`check_train_config` raises one ConfigError listing every problem found.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from segfw.errors import ConfigError
from segfw.models.inference import MODES

TEST_MODES = MODES  # segfw.models.inference: the prediction modes
AMP_DTYPES = ("auto", "bf16", "fp16")


def _number(value: Any) -> float | None:
    """``value`` as a finite float, None when it is not a number (``"fast"``, ``True``, ``nan``)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _pair(value: Any) -> bool:
    """Whether ``value`` is ``[H, W]`` with two positive integers."""
    items = list(value) if OmegaConf.is_list(value) or isinstance(value, (list, tuple)) else None
    return items is not None and len(items) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items)


def _checks(node: Any, prefix: str, rules: dict[str, tuple[Callable[[Any], bool], str]]) -> Iterator[str]:
    for key, (valid, expected) in rules.items():
        if node is None or key not in node:
            continue
        value = node[key]
        if not valid(value):
            shown = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
            yield f"{prefix}.{key}={shown} is invalid: {expected}"


def at_least(minimum: float, integer: bool = True) -> Callable[[Any], bool]:
    def valid(value: Any) -> bool:
        number = _number(value)
        return number is not None and number >= minimum and (not integer or float(number).is_integer())
    return valid


def positive(value: Any) -> bool:
    number = _number(value)
    return number is not None and number > 0


def optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def test_protocol_problems(test: Any, prefix: str = "test") -> list[str]:
    """Problems of an inference protocol node (``mode``, ``crop_size``, ``stride``, ``scales``)."""
    problems = list(_checks(test, prefix, {
        "mode": (lambda v: v in TEST_MODES, f"use one of {', '.join(TEST_MODES)}"),
        "crop_size": (optional(_pair), "give [H, W] with two positive integers, e.g. [512,512]"),
        "stride": (optional(_pair), "give [H, W] with two positive integers, e.g. [341,341]"),
        "scales": (lambda v: len(v) >= 1 and all(positive(s) for s in v),
                   "give a non-empty list of positive scales, e.g. [1.0] or [0.5,1.0,1.5]"),
        "batch_size": (at_least(1), "give a whole number >= 1 (images per evaluation forward pass)"),
        "window_batch": (at_least(1), "give a whole number >= 1 (slide windows per forward pass)"),
    }))
    if test is not None and test.get("mode") == "slide" and not (test.get("crop_size") and test.get("stride")):
        problems.append(f"{prefix}.mode=slide needs {prefix}.crop_size=[H,W] and {prefix}.stride=[H,W]")
    return problems


def _keys_named(node: Any, key: str, prefix: str) -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every ``key`` anywhere under the plain container ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            path = f"{prefix}.{name}"
            if name == key:
                yield path, value
            yield from _keys_named(value, key, path)


def loss_ignore_index_problems(cfg: DictConfig) -> list[str]:
    """A loss ignoring another label than the one the datasets write and the metrics skip (``ignore_index``):
    ``model.loss.ignore_index=0`` alone would train on ignored pixels, so it names the key to set instead."""
    if "ignore_index" not in cfg or cfg.get("model") is None or cfg.model.get("loss") is None:
        return []
    loss = OmegaConf.to_container(cfg.model.loss, resolve=True)
    return [f"{path}={value} differs from ignore_index={cfg.ignore_index}: set ignore_index={value} instead (the "
            "datasets, the loss, the crop padding and the metrics all read it)"
            for path, value in _keys_named(loss, "ignore_index", "model.loss") if value != cfg.ignore_index]


def train_config_problems(cfg: DictConfig) -> list[str]:
    """Every out-of-range value of a ``train`` config, one line each."""
    problems = list(_checks(cfg.trainer, "trainer", {
        "max_iters": (at_least(1), "give a whole number >= 1"),
        "eval_interval": (at_least(1), "give a whole number >= 1 (evaluate every N iterations)"),
        "batch_size": (at_least(1), "give a whole number >= 1 (images per process and step)"),
        "crop_size": (_pair, "give [H, W] with two positive integers, e.g. [512,512]"),
        "num_workers": (at_least(0), "give a whole number >= 0 (0: load in the main process)"),
        "log_interval": (at_least(1), "give a whole number >= 1"),
        "accumulate": (at_least(1), "give a whole number >= 1"),
        "keep_checkpoints": (at_least(1), "give a whole number >= 1"),
        "checkpoint_interval": (at_least(0), "give a whole number >= 0 (0: only at evaluations)"),
        "num_vis_images": (at_least(0), "give a whole number >= 0"),
        "grad_clip": (optional(positive), "give a positive number or null"),
        "amp_dtype": (lambda v: v in AMP_DTYPES, f"use one of {', '.join(AMP_DTYPES)}"),
        "max_bad_steps": (at_least(0), "give a whole number >= 0 (0: stop at the first non-finite loss)"),
    }))
    problems += _checks(cfg.trainer.get("ema"), "trainer.ema", {
        "decay": (lambda v: _number(v) is not None and 0 < float(v) < 1, "give a number in (0, 1), e.g. 0.999"),
        "start_iter": (at_least(0), "give a whole number >= 0"),
    })
    problems += _checks(cfg.get("optimizer"), "optimizer", {
        "lr": (positive, "give a positive number, e.g. 0.01"),
        "weight_decay": (at_least(0, integer=False), "give a number >= 0"),
        "momentum": (lambda v: _number(v) is not None and 0 <= float(v) < 1, "give a number in [0, 1)"),
        "head_lr_mult": (positive, "give a positive number"),
    })
    problems += _checks(cfg.get("scheduler"), "scheduler", {
        "power": (at_least(0, integer=False), "give a number >= 0"),
        "min_lr": (at_least(0, integer=False), "give a number >= 0"),
        "warmup_iters": (at_least(0), "give a whole number >= 0"),
        "warmup_ratio": (lambda v: _number(v) is not None and 0 <= float(v) <= 1, "give a number in [0, 1]"),
    })
    problems += test_protocol_problems(cfg.get("test"))
    problems += loss_ignore_index_problems(cfg)
    dataset = cfg.get("dataset")
    if dataset is not None and "root" in dataset.keys() and OmegaConf.is_missing(dataset, "root"):
        problems.append(f"dataset.root is not set: give dataset.root=PATH (the folder of the {dataset.get('name')} "
                        "dataset)")
    return problems


def check_eval_settings(settings: DictConfig) -> None:
    """Raise one ConfigError naming every out-of-range value of an evaluation's settings (the test protocol,
    ``trainer.num_workers``) before the model runs."""
    problems = test_protocol_problems(settings.get("test"))
    problems += _checks(settings.get("trainer"), "trainer", {
        "num_workers": (at_least(0), "give a whole number >= 0 (0: load in the main process)")})
    if problems:
        raise ConfigError("; ".join(problems))


def check_train_config(cfg: DictConfig) -> None:
    """Raise one ConfigError naming every out-of-range value of ``cfg`` (see :func:`train_config_problems`)."""
    problems = train_config_problems(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
