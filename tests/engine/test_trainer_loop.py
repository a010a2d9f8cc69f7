"""The loop from built parts, with no config: a plain module, an optimizer, a list of batches, a hook; and the
same loop on CUDA with an fp16 GradScaler and channels_last (``cuda`` marker: skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segfw.engine.hooks import Hook
from segfw.engine.trainer import Precision, Trainer


class TinySegmentor(nn.Module):
    """``losses(images (B, 3, H, W), masks (B, H, W)) -> {"loss_ce": ...}`` of one 1x1 conv."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(3, classes, 1)
        self.inputs: list[torch.Tensor] = []

    def losses(self, images, masks):
        self.inputs.append(images)
        return {"loss_ce": nn.functional.cross_entropy(self.conv(images), masks)}


class Steps(Hook):
    def __init__(self):
        self.seen = []

    def after_step(self, trainer):
        self.seen.append((trainer.iteration, trainer.is_eval_step, sorted(trainer.losses)))


def batches(n: int):
    generator = torch.Generator().manual_seed(0)
    return [{"image": torch.randn(2, 3, 5, 7, generator=generator), "mask": torch.randint(0, 3, (2, 5, 7),
             generator=generator)} for _ in range(n)]


def test_the_loop_runs_from_parts_with_no_config():
    model = TinySegmentor()
    before = model.conv.weight.detach().clone()
    hook = Steps()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), batches(3), max_iters=3, hooks=[hook],
                      eval_interval=2, progress=False)
    trainer.run()
    assert hook.seen == [(1, False, ["loss", "loss_ce"]), (2, True, ["loss", "loss_ce"]), (3, True, ["loss", "loss_ce"])]
    assert trainer.finished and torch.isfinite(model.conv.weight).all()
    assert not torch.equal(before, model.conv.weight)


@pytest.mark.cuda
def test_fp16_grad_scaler_and_channels_last_on_cuda():
    device = torch.device("cuda")
    model = TinySegmentor().to(device, memory_format=torch.channels_last)
    precision = Precision(torch.float16, torch.channels_last)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), batches(2), max_iters=2,
                      precision=precision, device=device, progress=False)
    before = model.conv.weight.detach().clone()
    trainer.run()
    assert precision.scaler.is_enabled() and precision.scaler.get_scale() > 0
    assert all(x.is_contiguous(memory_format=torch.channels_last) and x.is_cuda for x in model.inputs)
    assert torch.isfinite(model.conv.weight).all() and not torch.equal(before, model.conv.weight)
