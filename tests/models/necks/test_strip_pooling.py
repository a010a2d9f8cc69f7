"""Strip pooling (SPM), mixed pooling (MPM) and SPMs inside ResNet blocks, against float64 references."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

import pooling_reference as ref
import segfw
from segfw.models.backbones.resnet import ResNet, add_strip_pooling
from segfw.models.necks.mixed_pooling import MixedPooling
from segfw.models.necks.strip_pooling import StripPooling


def spm_reference(x, spm: StripPooling):
    rows = ref.sequential(ref.row_means(x), spm.rows.conv)  # (B, C, H, 1)
    cols = ref.sequential(ref.column_means(x), spm.columns.conv)  # (B, C, 1, W)
    mixed = torch.zeros_like(x)
    for i in range(x.shape[-2]):
        for j in range(x.shape[-1]):
            mixed[:, :, i, j] = torch.clamp(rows[:, :, i, 0] + cols[:, :, 0, j], min=0)
    return x * torch.sigmoid(ref.conv(mixed, spm.gate))


def mpm_reference(x, mpm: MixedPooling):
    size = tuple(x.shape[-2:])
    short_in = ref.sequential(x, mpm.reduce_short)
    long_in = ref.sequential(x, mpm.reduce_long)
    short = ref.sequential(short_in, mpm.local)
    for branch in mpm.pyramid:
        pooled = ref.adaptive_avg_pool(short_in, branch.size)
        short = short + ref.bilinear(ref.sequential(pooled, branch.transform), size)
    rows = ref.sequential(ref.row_means(long_in), mpm.strips[0].conv)
    cols = ref.sequential(ref.column_means(long_in), mpm.strips[1].conv)
    long = torch.clamp(rows + cols, min=0)  # (B, C, H, 1) + (B, C, 1, W) → every (i, j) pair
    fused = torch.cat(
        [ref.sequential(torch.clamp(short, min=0), mpm.fuse_short), ref.sequential(long, mpm.fuse_long)], dim=1
    )
    return torch.clamp(x + ref.sequential(fused, mpm.project), min=0)


def test_spm_matches_reference_on_odd_sizes():
    torch.manual_seed(0)
    spm = ref.randomize(StripPooling(6))
    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(spm(x), spm_reference(x, spm), rtol=0, atol=1e-10)


def test_spm_one_pixel_reaches_its_whole_row_and_column_only():
    """A change at (2, 5) alters the gate on rows 1..3 and columns 4..6 (3-tap strip convs), nowhere else."""
    torch.manual_seed(0)
    spm = ref.randomize(StripPooling(3))
    x = torch.randn(1, 3, 7, 9, dtype=torch.float64)
    bumped = x.clone()
    bumped[:, :, 2, 5] += 1.0
    changed = (spm(bumped) - spm(x)).abs().sum(dim=1)[0] > 1e-12
    reachable = torch.zeros(7, 9, dtype=torch.bool)
    reachable[1:4, :] = True
    reachable[:, 4:7] = True
    assert not (changed & ~reachable).any()
    assert changed[2, :].all() and changed[:, 5].all()


def test_mpm_matches_reference_with_pools_larger_and_smaller_than_the_map():
    torch.manual_seed(0)
    mpm = ref.randomize(MixedPooling(8, pool_sizes=(20, 5), reduction=2))
    x = torch.randn(2, 8, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(mpm(x), mpm_reference(x, mpm), rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "block", [lambda: StripPooling(3), lambda: MixedPooling(4, pool_sizes=(3, 2), reduction=2)], ids=["spm", "mpm"]
)
def test_gradcheck(block):
    torch.manual_seed(0)
    module = ref.randomize(block())
    x = torch.randn(2, module.out_channels, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_mpm_rejects_a_reduction_that_leaves_no_channels():
    with pytest.raises(segfw.ConfigError, match="reduction"):
        MixedPooling(4, reduction=8)


@pytest.mark.parametrize("block_type", [BasicBlock, Bottleneck])
def test_spm_gates_the_input_of_the_last_conv_of_a_residual_block(block_type):
    """As in the official SPNet Bottleneck: out = ReLU(BN(conv_last(h · gate(h))) + x)."""
    torch.manual_seed(0)
    block = block_type(16, 4) if block_type is Bottleneck else block_type(16, 16)
    add_strip_pooling(block)
    ref.randomize(block)
    x = torch.randn(2, 16, 9, 11, dtype=torch.float64)
    if block_type is Bottleneck:
        hidden = block.relu(block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))))
        last, norm = block.conv3, block.bn3
    else:
        hidden = block.relu(block.bn1(block.conv1(x)))
        last, norm = block.conv2, block.bn2
    expected = torch.relu(norm(ref.conv(spm_reference(hidden, last.spm), last.conv)) + x)
    torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-10)


def test_resnet_strip_pooling_stages_follow_spnet():
    net = ResNet(18, output_stride=8, strip_pooling_stages=["c5"], strip_pooling_last_blocks=["c2", "c3", "c4"])
    with_spm = {name for name, module in net.named_modules() if isinstance(module, StripPooling)}
    assert with_spm == {"layer1.1.conv2.spm", "layer2.1.conv2.spm", "layer3.1.conv2.spm",
                        "layer4.0.conv2.spm", "layer4.1.conv2.spm"}
    out = net(torch.randn(1, 3, 33, 47))
    assert out["c5"].shape == (1, 512, 5, 6)
    assert not any(isinstance(m, StripPooling) for m in ResNet(18).modules())


def test_resnet_strip_pooling_rejects_unknown_levels():
    with pytest.raises(segfw.ConfigError, match="strip_pooling_stages"):
        ResNet(18, strip_pooling_stages=["c6"])
    with pytest.raises(segfw.ConfigError, match="strip_pooling_last_blocks"):
        ResNet(18, strip_pooling_last_blocks=[4])
    with pytest.raises(segfw.ConfigError, match="must be a list"):
        ResNet(18, strip_pooling_stages="c5")
