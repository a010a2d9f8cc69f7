"""Layouts: spatial_mean has x.mean's values and gradient values, with the gradient in x's own memory layout, so that
the branches reading a channels-last map (ASPP, strip pooling, strip attention) hand back one layout."""

from __future__ import annotations

import pytest
import torch

from segfw.models.blocks.strip_pooling import StripPooling
from segfw.models.layout_mean import spatial_mean
from segfw.models.necks.aspp import ASPP
from segfw.models.necks.ppm import PooledBranch, PyramidPooling
from segfw.models.necks.strip_attention import StripAttention


@pytest.mark.parametrize("dims", [(2, 3), (2,), (3,), (-1,)])
@pytest.mark.parametrize("channels_last", [True, False])
def test_values_and_gradient_of_mean_in_the_input_layout(dims, channels_last):
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 5, 6, 7, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=layout)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = spatial_mean(ours, dims)
    y_ref = theirs.mean(dims, keepdim=True)
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    y.backward(grad)
    y_ref.backward(grad)
    assert torch.equal(y, y_ref)
    assert torch.equal(ours.grad, theirs.grad)
    assert ours.grad.stride() == x.stride()


@pytest.mark.parametrize("module", [
    lambda: ASPP(16, channels=8, rates=(1, 2, 3)),
    lambda: StripPooling(16),
    lambda: StripAttention(16),
], ids=["aspp", "strip_pooling", "strip_attention"])
def test_a_channels_last_map_gets_a_channels_last_gradient(module):
    torch.manual_seed(0)
    block = module().to(memory_format=torch.channels_last)
    x = torch.randn(2, 16, 9, 11).contiguous(memory_format=torch.channels_last).requires_grad_()
    block(x).square().sum().backward()
    assert x.grad.is_contiguous(memory_format=torch.channels_last)


def test_pyramid_pooling_branches_come_back_in_the_input_layout():
    """A bin-1 branch upsampled from 1×1 has ambiguous strides; it is returned channels-last like its input,
    so that PPM's and ASPP's concatenations (and their backward) stay in one layout."""
    ppm = PyramidPooling(16, bins=(1, 2, 3, 6), channels=4).to(memory_format=torch.channels_last)
    x = torch.randn(2, 16, 12, 12).contiguous(memory_format=torch.channels_last)
    for branch in ppm.modules():
        if isinstance(branch, PooledBranch):
            assert branch(x).is_contiguous(memory_format=torch.channels_last)
    assert ppm(x).is_contiguous(memory_format=torch.channels_last)
    plain = torch.randn(2, 16, 12, 12)
    assert ppm(plain).is_contiguous()
