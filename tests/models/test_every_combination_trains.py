"""Every registered neck × head composes, takes a training step and predicts; every neck and every head
also trains through the real training entry point (a new block is tested automatically).

The full cross product runs a step of the composed segmentor (milliseconds each); the real
``segfw.apis.train`` entry point runs a covering set of pairs: each neck with one head (taking the heads
in turn) and each head at least once, so that the suite grows with necks + heads, not necks × heads.
"""

import math

import pytest
import torch
from omegaconf import OmegaConf

import segfw
from conftest import tiny_overrides
from segfw.apis.train import train
from segfw.models.segmentor import build_segmentor

NECKS = segfw.NECKS.names()
HEADS = segfw.HEADS.names()
COVERING_PAIRS = sorted({(neck, HEADS[i % len(HEADS)]) for i, neck in enumerate(NECKS)}
                        | {(NECKS[i % len(NECKS)], head) for i, head in enumerate(HEADS)})


def _overrides(tmp_path):
    overrides = tiny_overrides(tmp_path, **{"trainer.max_iters": "1", "trainer.eval_interval": "1",
                                            "dataset.num_val": "1", "trainer.num_vis_images": "0"})
    return [o for o in overrides if not o.startswith("model.head.")]


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("neck", NECKS)
def test_neck_head_pair_steps(compose, tmp_path, neck, head):
    cfg = compose("train", _overrides(tmp_path) + [f"model/neck={neck}", f"model/head={head}"])
    model = build_segmentor(OmegaConf.to_container(cfg.model, resolve=True), num_classes=3)
    torch.manual_seed(0)
    images, masks = torch.randn(2, 3, 32, 48), torch.randint(0, 3, (2, 32, 48))
    losses = model.losses(images, masks)
    sum(losses.values()).backward()
    grads = [p.grad for p in model.head.parameters() if p.grad is not None]
    assert all(math.isfinite(float(v.detach())) for v in losses.values())
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        assert model(images).shape == (2, 3, 32, 48)


@pytest.mark.parametrize(("neck", "head"), COVERING_PAIRS)
def test_neck_head_pair_trains(compose, tmp_path, neck, head):
    cfg = compose("train", _overrides(tmp_path) + [f"model/neck={neck}", f"model/head={head}"])
    summary = train(cfg)
    assert summary["mIoU"] is not None and math.isfinite(summary["mIoU"])
    assert (tmp_path / "run/checkpoints/last.pt").is_file()
