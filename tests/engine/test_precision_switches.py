"""Precision and speed switches in tiny real trainings: bf16 autocast on CPU with channels_last,
gradient accumulation with clipping (against gradients recomputed by hand), trainer.compile."""

from __future__ import annotations

import copy

import torch
from conftest import CONFIGS, tiny_overrides
from hydra import compose, initialize_config_dir

from segfw.config import register_schemas
from segfw.engine.run_dir import RunFolder
from segfw.engine.default_trainer import DefaultTrainer as Trainer


def build_trainer(tmp, **extra: str) -> Trainer:
    """A Trainer for a tiny CPU run (see conftest.tiny_overrides) with ``extra`` overrides."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("train", tiny_overrides(tmp, **extra))
    return Trainer(cfg, torch.device("cpu"), RunFolder(cfg).__enter__())  # locked until the process exits


def record_training_calls(module: torch.nn.Module, calls: list) -> None:
    """Append (first input is a channels_last tensor, output dtype) for every forward of ``module`` in train mode."""

    def hook(mod, args, output):
        if mod.training:
            first = args[0]
            calls.append((torch.is_tensor(first) and first.is_contiguous(memory_format=torch.channels_last), output.dtype))

    module.register_forward_hook(hook)


def test_bf16_autocast_with_channels_last(tmp_path):
    trainer = build_trainer(tmp_path, **{"trainer.amp": "true", "trainer.amp_dtype": "bf16", "trainer.channels_last": "true"})
    stem_conv, classifier = trainer.model.backbone.stem[0], trainer.model.head
    stem_calls, head_calls = [], []
    record_training_calls(stem_conv, stem_calls)
    record_training_calls(classifier, head_calls)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    summary = trainer.run()

    assert stem_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert stem_calls == [(True, torch.bfloat16)] * trainer.t.max_iters  # channels_last input, bf16 conv
    assert [dtype for _, dtype in head_calls] == [torch.bfloat16] * trainer.t.max_iters
    after = trainer.model.state_dict()
    assert all(torch.isfinite(v.float()).all() for v in after.values())
    assert any(not torch.equal(before[k], v) for k, v in after.items())
    assert 0 <= summary["mIoU"] <= 100


def test_accumulation_averages_micro_batches_and_clipping_bounds_the_norm(tmp_path):
    """accumulate=2, grad_clip=1e-3 (far below the gradient's norm, so clipping acts): the gradient the
    optimizer steps with equals the mean of the two micro-batch gradients, rescaled to norm 1e-3."""
    trainer = build_trainer(tmp_path, **{"trainer.accumulate": "2", "trainer.grad_clip": "0.001",
                                         "trainer.max_iters": "1", "trainer.eval_interval": "1",
                                         "model.head.dropout": "0", "model.aux_head.dropout": "0"})
    micro_batches, checks = [], []
    trainer.step_module.register_forward_pre_hook(lambda module, args: micro_batches.append(args))

    def check_gradients(optimizer, args, kwargs):
        reference = copy.deepcopy(trainer.model)
        reference.zero_grad(set_to_none=True)
        for (batch,) in micro_batches:
            (sum(reference.losses(batch["image"], batch["mask"]).values()) / len(micro_batches)).backward()
        pairs = [(p.grad, r.grad) for p, r in zip(trainer.model.parameters(), reference.parameters()) if r.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(r) for _, r in pairs]))
        checks.append((len(micro_batches), norm.item()))
        for got, want in pairs:
            torch.testing.assert_close(got, want * (1e-3 / norm), rtol=1e-4, atol=1e-9)

    trainer.optimizer.register_step_pre_hook(check_gradients)
    trainer.run()

    assert len(checks) == 1
    micro_count, unclipped_norm = checks[0]
    assert micro_count == 2 and unclipped_norm > 1e-2


def test_compile_captures_the_real_training_step(tmp_path, monkeypatch):
    """trainer.compile=true through the trainer, with a graph-counting dynamo backend that runs the
    captured graphs eagerly: Inductor's C++ code generation for a ResNet training step takes over
    a minute on a small CPU, so it is exercised on a small model below."""
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: compile_(module, backend=counting_backend))
    torch._dynamo.reset()
    trainer = build_trainer(tmp_path, **{"trainer.compile": "true"})
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    summary = trainer.run()

    assert isinstance(trainer.step_module, torch._dynamo.eval_frame.OptimizedModule)
    assert graphs and any(node.op == "call_module" or node.op == "call_function" for node in graphs[0].graph.nodes)
    after = trainer.model.state_dict()
    assert all(torch.isfinite(v.float()).all() for v in after.values())
    assert any(not torch.equal(before[k], v) for k, v in after.items())
    assert 0 <= summary["mIoU"] <= 100
