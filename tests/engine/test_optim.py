import pytest
import torch

import segfw
from segfw.engine.optim import build_optimizer, build_scheduler
from segfw.errors import ConfigError


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


@pytest.mark.parametrize("name, keys", [("sgd", {"momentum": 0.9, "weight_decay": 5e-4, "nesterov": True}),
                                        ("adamw", {"weight_decay": 0.01})])
def test_fused_update_is_the_loop_update_within_fp32_rounding_and_the_default(name, keys):
    """Five steps with changing gradients; the update in float64 from the formula is the reference."""
    nets = {fused: model() for fused in (True, False)}
    nets[False].load_state_dict(nets[True].state_dict())
    exact = model().double()
    exact.load_state_dict(nets[True].state_dict())
    optimizers = {fused: build_optimizer(net, {"name": name, "lr": 0.01, "head_lr_mult": 10, "fused": fused, **keys})
                  for fused, net in nets.items()}
    reference = build_optimizer(exact, {"name": name, "lr": 0.01, "head_lr_mult": 10, "fused": False, **keys})
    assert optimizers[True].defaults["fused"] and not optimizers[False].defaults["fused"]
    assert build_optimizer(model(), {"name": name, "lr": 0.01, **keys}).defaults["fused"]  # the default
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=generator) for p in exact.parameters()]
        for net, opt in [*((nets[f], optimizers[f]) for f in (True, False)), (exact, reference)]:
            for p, g in zip(net.parameters(), grads):
                p.grad = g.to(p.dtype)
            opt.step()
    for fused in (True, False):
        for p, q in zip(nets[fused].parameters(), exact.parameters()):
            torch.testing.assert_close(p.double(), q, rtol=1e-5, atol=1e-6)
