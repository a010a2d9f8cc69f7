"""Every registry keeps the same contract: documented entries, a YAML file per configurable entry, a one-line
error naming the closest name, and each entry does its job when built the way the framework builds it.

Necks and heads have their own, deeper contract tests (test_neck_contract.py, test_heads.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from conftest import CONFIGS
import segfw.engine.hooks  # noqa: F401  (registers the hooks)
import segfw.engine.loggers  # noqa: F401  (registers the loggers)
from segfw import registry
from segfw.engine.optim import build_optimizer, build_scheduler
from segfw.errors import ConfigError
from segfw.metrics import summarize

# The config group holding one YAML file per entry, for the kinds a user configures by name.
YAML_GROUPS = {"neck": "model/neck", "head": "model/head", "loss": "model/loss", "dataset": "dataset",
               "optimizer": "optimizer", "scheduler": "scheduler", "logger": "trainer/logger", "hook": "trainer/hook"}


@pytest.mark.parametrize("kind_registry", registry.ALL_REGISTRIES, ids=lambda r: r.kind)
def test_every_entry_is_documented_and_an_unknown_name_is_one_line(kind_registry):
    assert kind_registry.names(), f"no {kind_registry.kind} is registered"
    for name, entry in kind_registry.items():
        doc = (entry.__doc__ or "").strip()
        assert doc, f"{kind_registry.kind} '{name}' has no docstring (python -m segfw list shows its first line)"
    first = kind_registry.names()[0]
    with pytest.raises(ConfigError) as error:
        kind_registry.get(first + "x")
    assert f"Did you mean '{first}'" in str(error.value) and "\n" not in str(error.value)


def names_in(node) -> set:
    """Every ``name:`` value in a config tree (a loss may appear as a term of another loss's file)."""
    if isinstance(node, dict):
        return ({node["name"]} if "name" in node else set()) | set().union(*map(names_in, node.values()))
    if isinstance(node, list):
        return set().union(*map(names_in, node))
    return set()


@pytest.mark.parametrize("kind, group", YAML_GROUPS.items())
def test_every_configurable_entry_has_its_yaml(kind, group):
    kind_registry = next(r for r in registry.ALL_REGISTRIES if r.kind == kind)
    names_in_yaml = set().union(*(names_in(OmegaConf.to_container(OmegaConf.load(path)))
                                  for path in (CONFIGS / group).glob("*.yaml")))
    missing = [name for name in kind_registry.names() if name not in names_in_yaml]
    assert not missing, f"{kind}s without a configs/{group}/*.yaml naming them: {missing}"


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 3)
        self.head = nn.Conv2d(4, 2, 1)


@pytest.mark.parametrize("name", registry.OPTIMIZERS.names())
def test_every_optimizer_and_scheduler_builds_from_its_yaml_and_steps(name):
    model = Tiny()
    optimizer = build_optimizer(model, OmegaConf.load(CONFIGS / "optimizer" / f"{name}.yaml"))
    for scheduler_name in registry.SCHEDULERS.names():
        scheduler = build_scheduler(optimizer, OmegaConf.load(CONFIGS / "scheduler" / f"{scheduler_name}.yaml"), 10)
        before = [p.detach().clone() for p in model.parameters()]
        model.head(model.backbone(torch.randn(1, 3, 8, 8))).sum().backward()
        optimizer.step()
        scheduler.step()
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), (name, scheduler_name)


def test_an_unknown_optimizer_key_names_it():
    with pytest.raises(ConfigError, match="optimizer 'sgd' has no parameter 'momentun'"):
        build_optimizer(Tiny(), {"name": "sgd", "lr": 0.1, "momentun": 0.9})
    with pytest.raises(ConfigError, match="scheduler 'poly' has no parameter 'powr'"):
        build_scheduler(build_optimizer(Tiny(), {"name": "sgd", "lr": 0.1}), {"name": "poly", "powr": 1.0}, 10)


@pytest.mark.parametrize("name", registry.METRICS.names())
def test_every_metric_is_in_the_summary_within_0_and_100_and_undefined_for_an_absent_class(name):
    metric = registry.METRICS.get(name)
    matrix = torch.tensor([[5, 1, 0], [2, 3, 0], [0, 0, 0]])  # class 2 never labelled nor predicted
    summary = summarize(matrix, ["a", "b", "c"])
    values = summary[metric.key]
    assert values["c"] is None and all(0 <= values[k] <= 100 for k in ("a", "b"))
    assert summary[metric.mean] == pytest.approx((values["a"] + values["b"]) / 2)


@pytest.mark.parametrize("name", registry.TRANSFORMS.names())
def test_every_transform_keeps_image_and_mask_aligned(name):
    """Each segfw transform, with its required arguments, on a (H, W, 3) uint8 image and its (H, W) mask."""
    required = {"CatMaxRatioCrop": {"height": 16, "width": 12}, "RescaleKeepRatio": {"scale": [40, 20]},
                "RandomRescale": {"scale": [40, 20]}}
    transform = registry.TRANSFORMS.get(name)(**required.get(name, {}))
    transform.set_random_seed(0)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    mask = rng.integers(0, 5, (24, 32), dtype=np.uint8)
    out = transform(image=image, mask=mask)
    assert out["image"].shape[:2] == out["mask"].shape
    assert set(np.unique(out["mask"])) <= set(np.unique(mask))
