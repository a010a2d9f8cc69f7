"""Optimizers with a head learning-rate multiplier, and poly decay after a linear warm-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from segfw.errors import ConfigError
from segfw.models.param_groups import split_weight_decay


def parameter_groups(model: nn.Module, lr: float, head_lr_mult: float) -> list[dict]:
    """Backbone parameters at ``lr``; everything after it (neck, heads) at ``lr * head_lr_mult``."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    backbone_ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in backbone_ids]
    return [
        {"params": backbone, "lr": lr, "name": "backbone"},
        {"params": rest, "lr": lr * head_lr_mult, "name": "head"},
    ]


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``cfg``: ``{name: sgd|adamw, lr, weight_decay, head_lr_mult, momentum | betas}``."""
    cfg = dict(cfg)
    name, lr, mult = cfg.pop("name"), float(cfg.pop("lr")), float(cfg.pop("head_lr_mult", 1.0))
    groups = split_weight_decay(parameter_groups(model, lr, mult), model)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, **cfg)
    if name == "adamw":
        cfg["betas"] = tuple(cfg.get("betas", (0.9, 0.999)))
        return torch.optim.AdamW(groups, lr=lr, **cfg)
    raise ConfigError(f"unknown optimizer '{name}'; choose sgd or adamw")


def poly_warmup_factor(iteration: int, max_iters: int, base_lr: float, power: float, min_lr: float,
                       warmup_iters: int, warmup_ratio: float) -> float:
    """Multiplier of ``base_lr`` at ``iteration``: poly decay to ``min_lr``, scaled linearly from
    ``warmup_ratio`` to 1 over the first ``warmup_iters`` iterations (mmsegmentation's schedule)."""
    progress = min(iteration, max_iters) / max(max_iters, 1)
    lr = (base_lr - min_lr) * (1 - progress) ** power + min_lr
    if iteration < warmup_iters:
        lr *= warmup_ratio + (1 - warmup_ratio) * iteration / warmup_iters
    return lr / base_lr


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], max_iters: int):
    """Per-iteration LambdaLR implementing ``cfg`` (``{name: poly, power, min_lr, warmup_iters, warmup_ratio}``)."""
    cfg = dict(cfg)
    name = cfg.pop("name")
    if name != "poly":
        raise ConfigError(f"unknown scheduler '{name}'; choose poly")
    base_lr = optimizer.param_groups[0]["lr"]
    min_lr = float(cfg.get("min_lr", 0.0))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        # min_lr is relative to the backbone lr; groups with a multiplier keep the same ratio
        lambda it: poly_warmup_factor(it, max_iters, base_lr, float(cfg.get("power", 0.9)), min_lr,
                                      int(cfg.get("warmup_iters", 0)), float(cfg.get("warmup_ratio", 0.1))),
    )
