"""Every registered neck × head trains through the real training entry point (a new block is tested automatically)."""

import math

import pytest

import segfw
from conftest import tiny_overrides
from segfw.apis.train import train

NECKS = segfw.NECKS.names()
HEADS = segfw.HEADS.names()


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("neck", NECKS)
def test_neck_head_pair_trains(compose, tmp_path, neck, head):
    overrides = tiny_overrides(tmp_path, **{"trainer.max_iters": "1", "trainer.eval_interval": "1",
                                            "dataset.num_val": "1", "trainer.num_vis_images": "0"})
    overrides = [o for o in overrides if not o.startswith("model.head.")]
    cfg = compose("train", overrides + [f"model/neck={neck}", f"model/head={head}"])
    summary = train(cfg)
    assert summary["mIoU"] is not None and math.isfinite(summary["mIoU"])
    assert (tmp_path / "run/checkpoints/last.pt").is_file()
