"""Weight decay skips γ, the cosine temperature and learned position tables, and nothing else."""

from __future__ import annotations

import torch

import segfw
from segfw.engine.optim import build_optimizer
from segfw.models.param_groups import no_weight_decay


def strip_attention_model():
    cfg = {"backbone": {"name": "resnet18"},
           "neck": {"name": "strip_attention", "score": "cosine", "position": "learned"},
           "head": {"name": "fcn", "channels": 8}}
    return segfw.build_segmentor(cfg, num_classes=3)


def test_no_weight_decay_names_scalars_and_position_tables_only():
    names = no_weight_decay(strip_attention_model())
    assert names == {"neck.block.gamma", "neck.block.attention.scores.0.log_tau",
                     "neck.block.positions.rows", "neck.block.positions.cols"}


def test_optimizer_does_not_decay_them_and_keeps_the_lr_multiplier():
    model = strip_attention_model()
    opt = build_optimizer(model, {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "head_lr_mult": 10})
    by_name = {g["name"]: g for g in opt.param_groups}
    assert set(by_name) == {"backbone", "head", "head_no_decay"}
    assert by_name["head_no_decay"]["weight_decay"] == 0.0 and by_name["head"]["weight_decay"] == 1e-4
    assert by_name["head_no_decay"]["lr"] == by_name["head"]["lr"] == 0.1
    assert {id(p) for p in by_name["head_no_decay"]["params"]} == {id(model.neck.block.gamma), id(model.neck.block.positions.rows),
        id(model.neck.block.positions.cols), id(model.neck.block.attention.scores[0].log_tau)}
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_a_step_without_gradient_leaves_gamma_but_decays_weights():
    model = strip_attention_model()
    with torch.no_grad():
        model.neck.block.gamma.fill_(0.5)
    conv = model.neck.block.query.weight
    before = conv.detach().clone()
    opt = build_optimizer(model, {"name": "sgd", "lr": 0.1, "weight_decay": 0.1})
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert model.neck.block.gamma.item() == 0.5
    torch.testing.assert_close(conv.detach(), before * (1 - 0.1 * 0.1))
