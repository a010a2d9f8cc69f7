"""A run interrupted at iteration k and resumed reaches bitwise the same weights as an uninterrupted one."""

import shutil

import torch

from conftest import tiny_overrides
from segfw.apis.train import train


def test_resumed_run_is_bitwise_identical(compose, tmp_path):
    common = {"trainer.max_iters": "4", "trainer.eval_interval": "4", "trainer.checkpoint_interval": "2",
              "trainer.keep_checkpoints": "3", "trainer.deterministic": "true", "trainer.num_workers": "2"}
    straight = tmp_path / "straight"
    train(compose("train", tiny_overrides(tmp_path, **common, run_dir=str(straight))))

    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(straight / "checkpoints/iter_0000002.pt", resumed / "checkpoints/iter_0000002.pt")
    train(compose("train", tiny_overrides(tmp_path, **common, run_dir=str(resumed), resume="true")))

    a = torch.load(straight / "checkpoints/last.pt", weights_only=False)
    b = torch.load(resumed / "checkpoints/last.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 4
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for (ka, va), (kb, vb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items()):
        assert torch.equal(va["momentum_buffer"], vb["momentum_buffer"])
