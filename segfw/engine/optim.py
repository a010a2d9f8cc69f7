"""Optimizers and learning-rate schedules, registered by name (``OPTIMIZERS``, ``SCHEDULERS``).

``optimizer: {name: sgd, lr, head_lr_mult, ...}``: the builder splits the parameters into groups
(backbone at ``lr``, the rest at ``lr * head_lr_mult``, weight decay skipped where
``segfw.models.param_groups`` says) and passes the remaining keys to the registered constructor,
which fails naming an unknown key. ``scheduler: {name: poly, ...}``: a per-iteration schedule built
from the optimizer and ``max_iters``. A new one is a registered function plus one YAML file in
``configs/optimizer/`` or ``configs/scheduler/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from segfw.errors import ConfigError
from segfw.models.param_groups import split_weight_decay
from segfw.registry import OPTIMIZERS, SCHEDULERS


def parameter_groups(model: nn.Module, lr: float, head_lr_mult: float) -> list[dict]:
    """Backbone parameters at ``lr``; everything after it (neck, heads) at ``lr * head_lr_mult``."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    backbone_ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in backbone_ids]
    return [
        {"params": backbone, "lr": lr, "name": "backbone"},
        {"params": rest, "lr": lr * head_lr_mult, "name": "head"},
    ]


@OPTIMIZERS.register("sgd")
def sgd(params: list[dict], lr: float, momentum: float = 0.9, weight_decay: float = 0.0005,
        nesterov: bool = False, fused: bool = True) -> torch.optim.Optimizer:
    """SGD with momentum (the semantic-segmentation protocol's optimizer).

    ``fused``: one kernel for the whole update (CPU and CUDA). On the development CPU it updates
    DeepLabV3-R50's 42 M parameters in 22 ms instead of 68 ms; the same update within fp32 rounding
    (tests/engine/test_optim.py)."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                           fused=fused)


@OPTIMIZERS.register("adamw")
def adamw(params: list[dict], lr: float, betas: Sequence[float] = (0.9, 0.999), weight_decay: float = 0.01,
          eps: float = 1e-8, fused: bool = True) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay), e.g. for transformer backbones; ``fused`` as for :func:`sgd`."""
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, eps=eps, fused=fused)


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``cfg``: ``{name, lr, head_lr_mult, **the optimizer's own keys}`` (see the module docstring)."""
    node = dict(cfg)
    if "lr" not in node:
        raise ConfigError(f"optimizer '{node.get('name')}' needs lr, e.g. optimizer.lr=0.01")
    lr, mult = float(node["lr"]), float(node.pop("head_lr_mult", 1.0))
    groups = split_weight_decay(parameter_groups(model, lr, mult), model)
    return OPTIMIZERS.build(node, params=groups)


def poly_warmup_factor(iteration: int, max_iters: int, base_lr: float, power: float, min_lr: float,
                       warmup_iters: int, warmup_ratio: float) -> float:
    """Multiplier of ``base_lr`` at ``iteration``: poly decay to ``min_lr``, scaled linearly from
    ``warmup_ratio`` to 1 over the first ``warmup_iters`` iterations (mmsegmentation's schedule)."""
    progress = min(iteration, max_iters) / max(max_iters, 1)
    lr = (base_lr - min_lr) * (1 - progress) ** power + min_lr
    if iteration < warmup_iters:
        lr *= warmup_ratio + (1 - warmup_ratio) * iteration / warmup_iters
    return lr / base_lr


@SCHEDULERS.register("poly")
def poly(optimizer: torch.optim.Optimizer, max_iters: int, power: float = 0.9, min_lr: float = 0.0,
         warmup_iters: int = 0, warmup_ratio: float = 0.1) -> torch.optim.lr_scheduler.LRScheduler:
    """Poly decay to min_lr after a linear warm-up from warmup_ratio * lr (mmsegmentation's schedule)."""
    base_lr = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        # min_lr is relative to the backbone lr; groups with a multiplier keep the same ratio
        lambda it: poly_warmup_factor(it, max_iters, base_lr, float(power), float(min_lr), int(warmup_iters),
                                      float(warmup_ratio)),
    )


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], max_iters: int):
    """The per-iteration schedule ``cfg`` names (``{name, **its keys}``), stepped once per iteration."""
    return SCHEDULERS.build(dict(cfg), optimizer=optimizer, max_iters=max_iters)
