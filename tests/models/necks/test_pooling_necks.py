"""Pyramid pooling (PPM) and ASPP against float64 references written from their formulas."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pooling_reference as ref
import segfw
from segfw.models.necks.aspp import ASPP, atrous_rates
from segfw.models.necks.ppm import PyramidPooling


def ppm_reference(x, ppm: PyramidPooling):
    outputs = [x]
    for branch in ppm.branches:
        pooled = ref.adaptive_avg_pool(x, branch.size)
        outputs.append(ref.bilinear(ref.sequential(pooled, branch.transform), tuple(x.shape[-2:])))
    return torch.cat(outputs, dim=1)


def aspp_reference(x, aspp: ASPP):
    *convs, image_pool = aspp.branches
    outputs = [ref.sequential(x, branch) for branch in convs]
    image = ref.sequential(x.mean(dim=(-2, -1), keepdim=True), image_pool.transform)  # (B, C, 1, 1)
    outputs.append(torch.zeros_like(outputs[0]) + image)  # broadcast to every pixel
    return ref.sequential(torch.cat(outputs, dim=1), aspp.project)


def test_ppm_matches_reference_on_odd_sizes():
    torch.manual_seed(0)
    ppm = ref.randomize(PyramidPooling(8, bins=(1, 2, 3, 6)))
    x = torch.randn(2, 8, 13, 21, dtype=torch.float64)
    out = ppm(x)
    assert out.shape == (2, 8 + 4 * 2, 13, 21) and ppm.out_channels == 16
    torch.testing.assert_close(out, ppm_reference(x, ppm), rtol=0, atol=1e-10)


def test_aspp_matches_reference_on_odd_sizes():
    torch.manual_seed(0)
    aspp = ref.randomize(ASPP(6, channels=5, rates=(1, 2, 7)))
    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(aspp(x), aspp_reference(x, aspp), rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "block", [lambda: PyramidPooling(4, bins=(1, 2, 3)), lambda: ASPP(4, channels=2, rates=(1, 2))], ids=["ppm", "aspp"]
)
def test_gradcheck(block):
    torch.manual_seed(0)
    module = ref.randomize(block())
    x = torch.randn(2, 4, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("output_stride, rates", [(8, (12, 24, 36)), (16, (6, 12, 18)), (32, (3, 6, 9))])
def test_aspp_rates_scale_with_output_stride(output_stride, rates):
    aspp = ASPP(4, channels=2, output_stride=output_stride)
    assert atrous_rates(output_stride) == rates
    assert tuple(branch[0].dilation[0] for branch in aspp.branches[1:-1]) == rates


def test_aspp_explicit_rates_override_output_stride():
    aspp = ASPP(4, channels=2, output_stride=16, rates=[2, 4])
    assert [branch[0].dilation[0] for branch in aspp.branches[1:-1]] == [2, 4]


def test_aspp_rejects_an_unsupported_output_stride():
    with pytest.raises(segfw.ConfigError, match="output_stride"):
        ASPP(4, output_stride=4)


@pytest.mark.parametrize("block", [PyramidPooling, lambda c: ASPP(c, channels=2)], ids=["ppm", "aspp"])
def test_global_branches_have_bn_as_the_references_unless_global_norm_is_off(block):
    """PSPNet/mmseg/torchvision put BN on the 1×1 pooled map; ``global_norm=False`` trains with batch size 1."""
    def global_branch(module):
        return module.branches[0] if isinstance(module, PyramidPooling) else module.branches[-1]

    assert any(isinstance(m, nn.BatchNorm2d) for m in global_branch(block(4)).modules())
    module = (PyramidPooling(4, global_norm=False) if block is PyramidPooling else ASPP(4, channels=2, global_norm=False))
    module.train()(torch.randn(1, 4, 5, 7)).sum().backward()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in global_branch(module).modules())


def test_ppm_rejects_bad_bins():
    with pytest.raises(segfw.ConfigError, match="bins"):
        PyramidPooling(4, bins=[0, 2])
