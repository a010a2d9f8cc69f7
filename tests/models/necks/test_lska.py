"""LSKA: equal to the authors' code (fixture), to a float64 reference from the formula, and symmetric under
transposing the map with the horizontal and vertical kernels swapped."""

from __future__ import annotations

from pathlib import Path

import attention_reference
import depthwise_reference as ref
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.lska import lska_to_segfw
from segfw.models.necks.lska import LargeSeparableKernelAttention

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "lska" / "fixture.pt"


def lska_reference(x, m):
    u = ref.gelu(ref.grouped_conv(x, m.proj_in))
    a = u
    for conv in (m.local_h, m.local_v, m.dilated_h, m.dilated_v, m.mix):
        a = ref.grouped_conv(a, conv)
    return x + ref.grouped_conv(u * a, m.proj_out)


def test_equals_the_official_code_forward_and_input_gradient():
    fixture = torch.load(FIXTURE, weights_only=True)
    block = LargeSeparableKernelAttention(64, kernel_size=fixture["k_size"])
    block.load_state_dict(lska_to_segfw(fixture["state"]), strict=True)
    assert_matches_fixture(block, fixture)


def test_converter_takes_a_prefix_and_rejects_unknown_modules():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"block3.0.attn.{k}": v for k, v in state.items()} | {"block3.0.norm1.weight": torch.ones(64)}
    assert lska_to_segfw(prefixed, prefix="block3.0.attn.").keys() == lska_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="LSKA keys with no segfw counterpart: spatial_gating_unit.conv9"):
        lska_to_segfw(state | {"spatial_gating_unit.conv9.weight": torch.ones(1)})


@pytest.mark.parametrize("kernel_size", [7, 23])
def test_matches_the_float64_reference_on_an_odd_non_square_map(kernel_size):
    block = attention_reference.randomize(LargeSeparableKernelAttention(6, kernel_size=kernel_size))
    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), lska_reference(x, block), rtol=0, atol=1e-10)


def test_kernel_spans_the_papers_window():
    for k in (7, 11, 23, 35, 41, 53):
        block = LargeSeparableKernelAttention(2, kernel_size=k)
        reach = sum(c.dilation[1] * (c.kernel_size[1] - 1) for c in (block.local_h, block.dilated_h))
        assert reach + 1 in (k, k - 1), k  # 1×(2d−1) then 1×⌊k/d⌋ dilated by d: a window of k (k − 1 for 53)


def test_gradcheck():
    block = attention_reference.randomize(LargeSeparableKernelAttention(3, kernel_size=7))
    x = torch.randn(1, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_transposed_map_with_swapped_kernels_gives_the_transposed_output():
    """The horizontal and vertical depthwise chains commute, so swapping them transposes the output; exactly so
    with zero depthwise biases (a bias then filtered by the other chain's zero-padded convs is not constant at
    the borders, and the swap moves it)."""
    block = attention_reference.randomize(LargeSeparableKernelAttention(4, kernel_size=11))
    state = block.state_dict()
    for h, v in (("local_h", "local_v"), ("dilated_h", "dilated_v")):
        state[f"{h}.weight"], state[f"{v}.weight"] = state[f"{v}.weight"].mT, state[f"{h}.weight"].mT
        state[f"{h}.bias"], state[f"{v}.bias"] = torch.zeros_like(state[f"{h}.bias"]), torch.zeros_like(state[f"{v}.bias"])
    swapped = LargeSeparableKernelAttention(4, kernel_size=11).double().eval()
    swapped.load_state_dict(state)
    unbiased = LargeSeparableKernelAttention(4, kernel_size=11).double().eval()
    unbiased.load_state_dict(block.state_dict() | {k: v for k, v in state.items() if k.endswith("bias")})
    x = torch.randn(2, 4, 9, 14, dtype=torch.float64)
    torch.testing.assert_close(swapped(x.mT), unbiased(x).mT, rtol=0, atol=1e-10)
    assert not torch.allclose(unbiased(x.mT), unbiased(x).mT, atol=1e-3), "without the swap the row/column paths differ"


def test_rejects_a_kernel_size_the_paper_does_not_define():
    with pytest.raises(segfw.ConfigError, match="kernel_size 9 is not one of"):
        LargeSeparableKernelAttention(4, kernel_size=9)
