"""Fast defaults keep results: channels_last training equals NCHW training within float32 rounding,
slide windows run in batches with unchanged logits, and evaluation batches same-size images."""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS, tiny_overrides
from hydra import compose, initialize_config_dir
from inference_reference import PositionalToy, check
from torch import Tensor

from segfw.config import register_schemas
from segfw.errors import SkippedSample
from segfw.engine.data import build_eval_loader, collate_same_size
from segfw.engine.evaluator import evaluate
from segfw.engine.run_dir import RunFolder
from segfw.engine.default_trainer import DefaultTrainer as Trainer

def build_trainer(tmp, **extra: str) -> Trainer:
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("train", tiny_overrides(tmp, **extra))
    return Trainer(cfg, torch.device("cpu"), RunFolder(cfg).__enter__())  # locked until the process exits


NO_DROPOUT = {"model.head.dropout": "0", "model.aux_head.dropout": "0"}


def test_channels_last_is_the_default_and_trains_like_nchw(tmp_path):
    """Three SGD steps and an evaluation in each layout, from the same seed: equal within float32 rounding.

    64×64 crops keep batch norm over ≥ 32 values per channel; with 2×2 c5 maps (32×32 crops) batch norm
    amplifies rounding so much that NCHW alone is 1e-3 away from float64 (docs/benchmarks.md)."""
    steps = {"trainer.max_iters": "3", "trainer.eval_interval": "3", "trainer.crop_size": "[64,64]",
             "dataset.image_size": "[64,96]", **NO_DROPOUT}
    fast = build_trainer(tmp_path / "fast", **steps)
    plain = build_trainer(tmp_path / "plain", **steps, **{"trainer.channels_last": "false"})
    stem_inputs = []
    fast.model.backbone.stem[0].register_forward_pre_hook(
        lambda module, args: stem_inputs.append(args[0]) if module.training else None)

    fast_summary, plain_summary = fast.run(), plain.run()

    assert fast.t.channels_last and fast.model.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert stem_inputs and all(x.is_contiguous(memory_format=torch.channels_last) for x in stem_inputs)
    assert not plain.model.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    fast_state, plain_state = fast.model.state_dict(), plain.model.state_dict()
    assert fast_state.keys() == plain_state.keys()
    for key, value in plain_state.items():
        torch.testing.assert_close(fast_state[key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert fast_summary["mIoU"] == pytest.approx(plain_summary["mIoU"], abs=0.1)
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(fast.model.eval()(x.contiguous(memory_format=torch.channels_last)),
                                   plain.model.eval()(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("window_batch", [1, 2, 5, 64])
def test_slide_runs_windows_in_batches_with_the_reference_logits(window_batch):
    """13×21 images, crop 5×8, stride 3×5: a 4×4 grid of windows of B = 2 images each."""
    images = torch.randn(2, 3, 13, 21, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    toy, batches = PositionalToy(), []
    toy.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    check(toy, images, mode="slide", crop_size=(5, 8), stride=(3, 5), window_batch=window_batch)
    per_pass = max(1, window_batch // 2)
    slide_passes = batches[: -(-16 // per_pass)]  # the reference's own calls follow, one window each
    assert slide_passes == [2 * min(per_pass, 16 - i * per_pass) for i in range(len(slide_passes))]
    assert sum(slide_passes) == 2 * 16


def item(height: int, width: int, name: str) -> dict[str, Tensor | str]:
    return {"image": torch.zeros(3, height, width), "mask": torch.zeros(height, width, dtype=torch.int64), "name": name}


def test_collate_batches_runs_of_equal_size_in_order():
    items = [item(4, 6, "a"), item(4, 6, "b"), SkippedSample("c.png is broken"), item(4, 6, "d"),
             item(5, 6, "e"), item(4, 6, "f")]
    batches = collate_same_size(items)
    assert [b["name"] for b in batches] == [["a", "b", "d"], ["e"], ["f"]]
    assert [tuple(b["image"].shape) for b in batches] == [(3, 3, 4, 6), (1, 3, 5, 6), (1, 3, 4, 6)]
    assert batches[0]["skipped"] == ["c.png is broken"] and batches[1]["skipped"] == []
    only_bad = collate_same_size([SkippedSample("x")])
    assert len(only_bad) == 1 and "image" not in only_bad[0] and only_bad[0]["skipped"] == ["x"]


def test_batched_evaluation_equals_one_image_at_a_time(tmp_path):
    trainer = build_trainer(tmp_path, **{"dataset.num_val": "5"})
    forward_batches = []
    trainer.model.register_forward_pre_hook(lambda module, args: forward_batches.append(args[0].shape[0]))
    results = {}
    for batch_size in (1, 4):
        loader = build_eval_loader(trainer.val_set, 0, batch_size)
        results[batch_size] = evaluate(trainer.model, loader, trainer.classes, trainer.device, trainer.cfg.test)
    assert forward_batches == [1] * 5 + [4, 1]
    one, four = results[1].confusion, results[4].confusion
    assert one.sum() == four.sum() == 5 * 48 * 64
    assert (one - four).abs().sum() <= 0.001 * one.sum()  # argmax ties may flip at float32 rounding


@pytest.mark.parametrize(
    "device, native, name, want",
    [
        ("cpu", True, "auto", torch.bfloat16),
        ("cpu", False, "auto", None),  # emulated bf16 would be slower than float32
        ("cuda", True, "auto", torch.bfloat16),
        ("cuda", False, "auto", torch.float16),  # pre-Ampere GPU: fp16 (with a GradScaler)
        ("cuda", True, "fp16", torch.float16),
        ("cpu", True, "fp16", torch.bfloat16),  # autocast's CPU dtype
        ("cpu", False, "bf16", torch.bfloat16),  # asked for explicitly
    ],
)
def test_autocast_dtype_follows_the_device(monkeypatch, device, native, name, want):
    import segfw.engine.device as device_module

    monkeypatch.setattr(device_module, "native_bf16", lambda _device: native)
    assert device_module.autocast_dtype(torch.device(device), True, name) == want
    assert device_module.autocast_dtype(torch.device(device), False, name) is None

