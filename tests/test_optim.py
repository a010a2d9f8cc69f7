import pytest
import torch

import segfw
from segfw.engine.optim import build_optimizer, build_scheduler
from segfw.registry import ConfigError


def model():
    return segfw.build_segmentor({"backbone": {"name": "resnet18"}, "head": {"name": "fcn", "channels": 8}}, num_classes=3)


def test_head_lr_multiplier_and_adamw():
    opt = build_optimizer(model(), {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "head_lr_mult": 10})
    assert [g["lr"] for g in opt.param_groups] == [0.01, pytest.approx(0.1)]
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["weight_decay"] == 5e-4
    adamw = build_optimizer(model(), {"name": "adamw", "lr": 1e-4, "betas": [0.9, 0.99], "weight_decay": 0.01})
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["betas"] == (0.9, 0.99)
    with pytest.raises(ConfigError, match="unknown optimizer 'adam'"):
        build_optimizer(model(), {"name": "adam", "lr": 1e-4})


def test_poly_with_linear_warmup_matches_formula():
    base, min_lr, power, warmup, ratio, total = 0.01, 1e-4, 0.9, 10, 0.1, 100
    opt = build_optimizer(model(), {"name": "sgd", "lr": base, "momentum": 0.9, "head_lr_mult": 10})
    sched = build_scheduler(opt, {"name": "poly", "power": power, "min_lr": min_lr, "warmup_iters": warmup,
                                  "warmup_ratio": ratio}, total)
    for it in range(total):
        expected = (base - min_lr) * (1 - it / total) ** power + min_lr
        if it < warmup:
            expected *= ratio + (1 - ratio) * it / warmup
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-9)
        assert opt.param_groups[1]["lr"] == pytest.approx(10 * expected, rel=1e-9)
        opt.step()
        sched.step()
