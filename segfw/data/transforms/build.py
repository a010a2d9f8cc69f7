"""Config lists → albumentations pipelines.

A recipe (``configs/augment/<name>.yaml``) holds a ``train`` and a ``val`` list of steps
``{name: <transform>, **kwargs}``; a name is a segfw protocol transform or any albumentations transform
(2.x argument names). ``OneOf``/``SomeOf``-style steps take a nested ``transforms`` list. Crop sizes come
from the trainer by interpolation, e.g. ``height: ${trainer.crop_size.0}``.
"""

from __future__ import annotations

import difflib
import inspect
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import albumentations as A
import numpy as np
from albumentations.core.composition import BaseCompose
from albumentations.core.transforms_interface import BasicTransform
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from segfw.errors import ConfigError
from segfw.registry import TRANSFORMS, accepted_keywords

STAGES = ("train", "val")


def _albumentations_transforms() -> dict[str, type]:
    found = {}
    for name in dir(A):
        obj = getattr(A, name)
        if inspect.isclass(obj) and issubclass(obj, (BasicTransform, BaseCompose)) and not inspect.isabstract(obj):
            found[name] = obj
    return found


ALBUMENTATIONS_TRANSFORMS = _albumentations_transforms()


def transform_names() -> list[str]:
    """Every name a recipe step may use."""
    return sorted(set(TRANSFORMS.names()) | set(ALBUMENTATIONS_TRANSFORMS))


class Pipeline(A.Compose):
    """``A.Compose`` whose ``set_random_seed`` gives all steps ONE shared random stream.

    ``A.Compose.set_random_seed`` seeds every step with the same seed, i.e. identical, parallel streams:
    then e.g. ``HorizontalFlip`` and ``VerticalFlip`` always agree. Here the steps draw in turn from a
    single generator, as they do from an unseeded pipeline.
    """

    def set_random_seed(self, seed: int | None) -> None:
        self.seed = seed
        self.set_random_state(np.random.default_rng(seed), random.Random(seed))


class KeepMask:
    """Runs a pipeline on the image only and hands the mask back untouched.

    Evaluation scores against the label at its original resolution: the image may be resized, the mask
    never is (the evaluator resizes predictions to the mask).
    """

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline

    def __call__(self, *, image: np.ndarray, mask: np.ndarray | None = None, **targets: Any) -> dict[str, Any]:
        out = self.pipeline(image=image, **targets)
        out["mask"] = mask
        return out

    def set_random_seed(self, seed: int | None) -> None:
        self.pipeline.set_random_seed(seed)

    def __repr__(self) -> str:
        return f"KeepMask({self.pipeline!r})"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _build_step(node: Any, where: str) -> BasicTransform | BaseCompose:
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where}: a step must be a mapping like {{name: HorizontalFlip, p: 0.5}}, got {node!r}")
    kwargs = dict(node)
    name = kwargs.pop("name", None)
    if name is None:
        raise ConfigError(f"{where}: step has no 'name' key, e.g. {{name: HorizontalFlip, p: 0.5}}")
    cls = TRANSFORMS.get(name) if name in TRANSFORMS else ALBUMENTATIONS_TRANSFORMS.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), transform_names(), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"{where}: unknown transform '{name}'.{hint} Use a segfw transform "
            f"({', '.join(TRANSFORMS.names())}) or any albumentations 2.x transform name"
        )
    accepted = accepted_keywords(cls) or set()
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ConfigError(
            f"{where}: transform '{name}' has no parameter '{unknown[0]}' (albumentations 2.x "
            f"names). Its parameters: {', '.join(sorted(accepted - {'strict'}))}"
        )
    if issubclass(cls, BaseCompose) and "transforms" in kwargs:
        kwargs["transforms"] = [
            _build_step(child, f"{where}.transforms[{i}]") for i, child in enumerate(kwargs["transforms"])
        ]
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{where}: transform '{name}' rejects its arguments: {_one_line(error)}") from None


def _steps(augment: Mapping | DictConfig, stage: str) -> list[Any]:
    if stage not in STAGES:
        raise ConfigError(f"build_transforms: stage must be one of {STAGES}, got '{stage}'")
    if stage not in augment:
        raise ConfigError(f"augment has no '{stage}' list; a recipe needs both 'train' and 'val' step lists")
    steps = augment[stage]
    if isinstance(steps, (DictConfig, ListConfig)):
        try:
            steps = OmegaConf.to_container(steps, resolve=True)
        except OmegaConfBaseException as error:
            raise ConfigError(f"augment.{stage}: {_one_line(error)} (crop sizes come from trainer.crop_size)") from None
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        raise ConfigError(f"augment.{stage} must be a list of steps, got {type(steps).__name__}")
    return list(steps)


def build_transforms(augment: Mapping | DictConfig, stage: str) -> Callable[..., dict[str, Any]]:
    """The ``stage`` ("train" or "val") pipeline of a recipe, always ending in ``ToTensorV2``.

    "train" returns a :class:`Pipeline` (an ``A.Compose``) applied to image and mask alike. "val" returns
    :class:`KeepMask`: the steps touch the image only, so ``mask`` keeps the label's original resolution.
    Mistakes (unknown name or keyword, bad value, unresolved interpolation) raise ``ConfigError``.
    """
    transforms = [_build_step(node, f"augment.{stage}[{i}]") for i, node in enumerate(_steps(augment, stage))]
    if not transforms or not isinstance(transforms[-1], A.ToTensorV2):
        transforms.append(A.ToTensorV2())
    pipeline = Pipeline(transforms)
    return pipeline if stage == "train" else KeepMask(pipeline)
