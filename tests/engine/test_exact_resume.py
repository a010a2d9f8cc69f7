"""A run interrupted at iteration k and resumed reaches bitwise the same weights as an uninterrupted one
(with ``trainer.ema``: the same weight average too, carried in ``last.pt``)."""

import shutil

import pytest
import torch

from conftest import tiny_overrides
from segfw.apis.train import train


@pytest.mark.parametrize("ema", [False, True])
def test_resumed_run_is_bitwise_identical(compose, tmp_path, ema):
    common = {"trainer.max_iters": "4", "trainer.eval_interval": "4", "trainer.checkpoint_interval": "2",
              "trainer.keep_checkpoints": "3", "trainer.deterministic": "true", "trainer.num_workers": "2",
              "trainer.ema.enabled": str(ema).lower(), "trainer.ema.decay": "0.5"}
    straight = tmp_path / "straight"
    train(compose("train", tiny_overrides(tmp_path, **common, run_dir=str(straight))))

    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(straight / "checkpoints/iter_0000002.pt", resumed / "checkpoints/iter_0000002.pt")
    train(compose("train", tiny_overrides(tmp_path, **common, run_dir=str(resumed), resume="true")))

    a, b = assert_same_weights(straight, resumed, "last.pt")
    for (ka, va), (kb, vb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items()):
        assert torch.equal(va["momentum_buffer"], vb["momentum_buffer"])
    if ema:
        assert_same_weights(straight, resumed, "ema.pt")
    else:
        assert not (resumed / "checkpoints/ema.pt").exists()


def assert_same_weights(straight, resumed, name: str) -> tuple[dict, dict]:
    """Both runs' ``checkpoints/<name>`` hold the weights of iteration 4, bit for bit; returns both states."""
    a, b = (torch.load(run / "checkpoints" / name, weights_only=False) for run in (straight, resumed))
    assert a["iteration"] == b["iteration"] == 4
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    return a, b
