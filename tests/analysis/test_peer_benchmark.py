"""The peer benchmark: segfw's presets are the very networks of torchvision's builders (weights copied
across give the same logits), and every contender is measured in alternating rounds."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision

from segfw.analysis.benchmark import build_benchmark_model
from segfw.analysis.flops import count_parameters
from segfw.analysis.peer_benchmark import (
    FAMILIES,
    build_contenders,
    compose_model,
    copy_state_in_order,
    format_peer_table,
    run_peer_benchmark,
)


@pytest.mark.parametrize("family", ["fcn_r50", "deeplabv3_r50"])
def test_segfw_preset_is_torchvisions_network(family):
    """torchvision's weights loaded into segfw's preset give torchvision's logits (eval mode, odd size)."""
    torch.manual_seed(0)
    ours = build_benchmark_model(compose_model(FAMILIES[family]["segfw"]), num_classes=5).eval()
    builder = getattr(torchvision.models.segmentation, FAMILIES[family]["torchvision"])
    theirs = builder(weights=None, weights_backbone=None, num_classes=5, aux_loss=True).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that a swapped buffer would show
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    assert count_parameters(ours) == count_parameters(theirs)
    copy_state_in_order(theirs, ours)
    x = torch.randn(1, 3, 41, 57, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x)["out"], rtol=1e-4, atol=1e-4)


def test_copy_in_order_names_the_misfit():
    with pytest.raises(ValueError, match=r"weight \(4, 3, 1, 1\) does not fit weight \(4, 2, 1, 1\)"):
        copy_state_in_order(torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(2, 4, 1))


def test_contenders_are_measured_in_alternating_rounds():
    contenders = build_contenders(["deeplabv3_r50"], 3, torch.device("cpu"), variants=["default"])
    names = [(c.name, c.setting) for c in contenders]
    assert names == [("segfw", "NHWC, fp32, malloc reuse, fused SGD"), ("torchvision", "NCHW, fp32"),
                     ("segmentation_models_pytorch", "NCHW, fp32")]
    calls = []
    for c in contenders:
        stem = next(m for m in c.model.modules() if isinstance(m, torch.nn.Conv2d))
        stem.register_forward_pre_hook(lambda module, args, name=c.name: calls.append((name, module.training)))

    results, peaks = run_peer_benchmark(contenders, 3, [32, 32], 2, torch.device("cpu"), warmup=0, repeats=2,
                                        memory=False, matmul_size=256)

    train_calls = [name for name, training in calls if training]
    assert train_calls[:6] == ["segfw", "torchvision", "segmentation_models_pytorch"] * 2
    assert peaks["fp32"] > 0
    for r in results:
        assert len(r.train_times) == 2 and r.train_ms > 0 and r.infer_ms > 0
        assert r.gflop_per_step > 0 and r.achieved_gflops > 0
    assert results[0].gflop_per_step == pytest.approx(results[1].gflop_per_step, rel=0.01)  # the same network
    table = format_peer_table(results)
    assert table.count("\n") == 1 + len(results) and "1.00×" in table  # torchvision against itself
    assert table.count("not measured") == len(results)  # memory=False: no peak, not "nan"


def test_segfw_default_training_step_gives_torchvisions_gradients():
    """The backward pass of segfw's deeplabv3_r50 as the benchmark runs it (NHWC, the tap-sum weight gradient
    of the ASPP's dilated convs, channels-last pooling gradient) and of torchvision's DeepLabV3-R50 (NCHW,
    oneDNN's dense kernels), from the same weights and batch, against torchvision's network in float64.

    At 64×64 the ASPP sees 8×8 maps, where only the centre tap of each rate (12, 24, 36) reads the input.
    BatchNorm uses its running statistics: with batch statistics a randomly initialised ResNet-50 amplifies
    rounding so much that both fp32 implementations are 3 % from float64 (measured), hiding any kernel error."""
    contenders = build_contenders(["deeplabv3_r50"], 5, torch.device("cpu"), variants=["default"])
    ours, theirs = contenders[0], contenders[1]
    assert ours.setting == "NHWC, fp32, malloc reuse, fused SGD" and theirs.name == "torchvision"
    copy_state_in_order(theirs.model, ours.model)
    reference = copy.deepcopy(theirs.model).double()
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, 64, 64, generator=generator)
    masks = torch.randint(0, 5, (2, 64, 64), generator=generator)
    ours.model.to(memory_format=torch.channels_last).eval()
    ours.loss(ours.model, images.contiguous(memory_format=torch.channels_last), masks).backward()
    theirs.loss(theirs.model.eval(), images, masks).backward()
    theirs.loss(reference.eval(), images.double(), masks).backward()

    triples = list(zip(ours.model.parameters(), theirs.model.parameters(), reference.parameters()))
    assert len(triples) == len(list(ours.model.parameters())) == 187
    for ours_p, theirs_p, exact in triples:
        assert ours_p.shape == exact.shape
        for grad in (ours_p.grad, theirs_p.grad):
            error = (grad.double() - exact.grad).norm() / exact.grad.norm()
            assert error < 1e-5, (tuple(exact.shape), error.item())
