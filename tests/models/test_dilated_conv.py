"""PaddingAwareConv2d: the weight gradient summed over the taps that read the input equals the
convolution's weight gradient written from its definition (float64), and the fast path is taken
exactly where it applies (training on CPU in fp32, stride 1, one group, mostly-padding taps)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segfw.analysis.benchmark import build_benchmark_model
from segfw.analysis.peer_benchmark import compose_model
from segfw.models.dilated_conv import PaddingAwareConv2d, set_tap_weight_gradient, valid_tap_fraction
from segfw.models.necks.aspp import ASPP


def weight_gradient_from_definition(x, grad_output, kernel, dilation, padding):
    """∂L/∂W[o, c, i, j] = Σ_{b, y, x} g[b, o, y, x] · x_padded[b, c, y + i·d_h, x + j·d_w] (zero padding)."""
    padded = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    h, w = grad_output.shape[-2:]
    grad = torch.zeros(grad_output.shape[1], x.shape[1], *kernel, dtype=x.dtype)
    for i, j in itertools.product(range(kernel[0]), range(kernel[1])):
        window = padded[:, :, i * dilation[0]:i * dilation[0] + h, j * dilation[1]:j * dilation[1] + w]
        grad[:, :, i, j] = torch.einsum("bohw,bchw->oc", grad_output, window)
    return grad


@pytest.mark.parametrize("height, width, kernel, dilation, padding, channels_last, bias", [
    (9, 13, (3, 3), (4, 4), (4, 4), True, False),    # every tap partly valid
    (8, 8, (3, 3), (12, 12), (12, 12), False, True),  # only the centre tap reads the input
    (16, 5, (5, 3), (3, 6), (6, 6), True, True),      # rectangular kernel, per-axis dilation
    (7, 11, (3, 3), (6, 2), (3, 1), False, False),    # output smaller than the input ("valid"-like padding)
])
def test_gradients_equal_the_definition_in_float64(height, width, kernel, dilation, padding, channels_last, bias):
    torch.manual_seed(0)
    conv = PaddingAwareConv2d(6, 4, kernel, padding=padding, dilation=dilation, bias=bias).double()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    conv = conv.to(memory_format=layout)
    x = torch.randn(3, 6, height, width, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_()
    assert conv._takes_tap_path(x)
    y = conv(x)
    g = torch.randn_like(y)
    y.backward(g)

    torch.testing.assert_close(y, F.conv2d(x, conv.weight, conv.bias, 1, padding, dilation), rtol=1e-12, atol=1e-12)
    want = weight_gradient_from_definition(x.detach(), g, kernel, dilation, padding)
    torch.testing.assert_close(conv.weight.grad, want, rtol=1e-12, atol=1e-12)
    assert conv.weight.grad.stride() == conv.weight.stride()  # the parameter's own layout
    xr = x.detach().clone().requires_grad_()
    F.conv2d(xr, conv.weight.detach(), None, 1, padding, dilation).backward(g)
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-12, atol=1e-12)
    if bias:
        torch.testing.assert_close(conv.bias.grad, g.sum((0, 2, 3)), rtol=1e-12, atol=1e-12)


def test_float32_weight_gradient_is_as_close_to_float64_as_the_dense_kernel():
    torch.manual_seed(0)
    x = torch.randn(2, 64, 16, 16).contiguous(memory_format=torch.channels_last)
    g = torch.randn(2, 32, 16, 16).contiguous(memory_format=torch.channels_last)
    conv = PaddingAwareConv2d(64, 32, 3, padding=12, dilation=12, bias=False).to(memory_format=torch.channels_last)
    want = weight_gradient_from_definition(x.double(), g.double(), (3, 3), (12, 12), (12, 12))
    conv(x.requires_grad_()).backward(g)
    dense = torch.ops.aten.convolution_backward(g, x, conv.weight, None, [1, 1], [12, 12], [12, 12], False, [0, 0], 1,
                                                [False, True, False])[1]
    scale = want.abs().max()
    assert (conv.weight.grad.double() - want).abs().max() / scale < 1e-6
    assert (dense.double() - want).abs().max() / scale < 1e-5


@pytest.mark.parametrize("size, kernel, dilation, padding", [
    ((32, 32), (3, 3), (36, 36), (36, 36)), ((32, 32), (3, 3), (24, 24), (24, 24)), ((64, 48), (3, 3), (12, 12), (12, 12)),
    ((9, 13), (5, 3), (3, 6), (6, 6)), ((32, 32), (3, 3), (1, 1), (1, 1)),
])
def test_valid_tap_fraction_counts_the_pairs_that_read_the_input(size, kernel, dilation, padding):
    height, width = size
    out_h = height + 2 * padding[0] - dilation[0] * (kernel[0] - 1)
    out_w = width + 2 * padding[1] - dilation[1] * (kernel[1] - 1)
    inside = sum(
        0 <= y + i * dilation[0] - padding[0] < height and 0 <= x + j * dilation[1] - padding[1] < width
        for y, x, i, j in itertools.product(range(out_h), range(out_w), range(kernel[0]), range(kernel[1])))
    assert valid_tap_fraction(size, kernel, dilation, padding) == pytest.approx(inside / (out_h * out_w * kernel[0] * kernel[1]))


def test_tap_path_only_where_it_applies():
    conv = PaddingAwareConv2d(8, 8, 3, padding=12, dilation=12, bias=False)
    x = torch.randn(2, 8, 16, 16)
    assert conv._takes_tap_path(x)
    with torch.no_grad():
        assert not conv._takes_tap_path(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not conv._takes_tap_path(x)
    assert not conv._takes_tap_path(torch.randn(2, 8, 128, 128))  # 88 % of the pairs read the input
    assert not PaddingAwareConv2d(8, 8, 3, stride=2, padding=12, dilation=12)._takes_tap_path(x)
    assert not PaddingAwareConv2d(8, 8, 3, padding=12, dilation=12, groups=2)._takes_tap_path(x)
    assert not PaddingAwareConv2d(8, 8, 3, padding=12, dilation=12, padding_mode="reflect")._takes_tap_path(x)
    conv.weight.requires_grad_(False)
    assert not conv._takes_tap_path(x)
    conv.weight.requires_grad_(True)
    assert set_tap_weight_gradient(nn.Sequential(conv, nn.ReLU()), False) == 1
    assert not conv._takes_tap_path(x)


def test_same_parameters_and_outputs_as_nn_conv2d():
    torch.manual_seed(0)
    ours = PaddingAwareConv2d(8, 4, 3, padding=6, dilation=6, bias=True)
    plain = nn.Conv2d(8, 4, 3, padding=6, dilation=6, bias=True)
    plain.load_state_dict(ours.state_dict())
    assert isinstance(ours, nn.Conv2d) and ours.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(2, 8, 10, 12)
    torch.testing.assert_close(ours(x), plain(x), rtol=0, atol=0)


def train_aspp(dense: bool, steps: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    aspp = ASPP(32, channels=16, rates=(2, 6, 12)).to(memory_format=torch.channels_last)
    assert set_tap_weight_gradient(aspp, not dense) == 3
    optimizer = torch.optim.SGD(aspp.parameters(), lr=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(4, 32, 8, 8, generator=generator).contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad()
        aspp(x).square().mean().backward()
        optimizer.step()
    return aspp.state_dict()


def test_aspp_trains_like_the_dense_weight_gradient():
    """Three SGD steps of an ASPP (rates 2, 6, 12 on 8×8 maps: every dilated branch on the tap path)."""
    taps, dense = train_aspp(dense=False), train_aspp(dense=True)
    for key, value in dense.items():
        torch.testing.assert_close(taps[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_deeplabv3_preset_builds_its_dilated_branches_padding_aware():
    model = build_benchmark_model(compose_model(["model=deeplabv3_r50"]), num_classes=3)
    convs = [m for m in model.modules() if isinstance(m, PaddingAwareConv2d)]
    assert sorted(conv.dilation[0] for conv in convs) == [12, 24, 36]
