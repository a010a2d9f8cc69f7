"""MSCA (SegNeXt's attention as a neck): equal to the authors' code (fixture), to a float64 reference from the
formula, gradcheck, and what holds under transposing the map."""

from __future__ import annotations

from pathlib import Path

import attention_reference
import depthwise_reference as ref
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.msca import msca_to_segfw
from segfw.models.necks.msca import MSCA

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "msca" / "fixture.pt"


def msca_reference(x, m):
    u = ref.gelu(ref.grouped_conv(x, m.proj_in))
    a0 = ref.grouped_conv(u, m.gate.local)
    total = a0
    for first, second in m.gate.branches:
        total = total + ref.grouped_conv(ref.grouped_conv(a0, first), second)
    return x + ref.grouped_conv(ref.grouped_conv(total, m.gate.mix) * u, m.proj_out)


def test_equals_the_official_code_forward_and_input_gradient():
    fixture = torch.load(FIXTURE, weights_only=True)
    block = MSCA(64)
    block.load_state_dict(msca_to_segfw(fixture["state"]), strict=True)
    assert_matches_fixture(block, fixture)


def test_converter_takes_a_prefix_and_rejects_unknown_modules():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"block4.0.attn.{k}": v for k, v in state.items()} | {"block4.0.norm1.weight": torch.ones(64)}
    assert msca_to_segfw(prefixed, prefix="block4.0.attn.").keys() == msca_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="SegNeXt MSCA keys with no segfw counterpart: spatial_gating_unit.conv4_1"):
        msca_to_segfw(state | {"spatial_gating_unit.conv4_1.weight": torch.ones(1)})


def test_matches_the_float64_reference_on_an_odd_non_square_map():
    block = attention_reference.randomize(MSCA(5))
    x = torch.randn(2, 5, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), msca_reference(x, block), rtol=0, atol=1e-10)


def test_gradcheck():
    block = attention_reference.randomize(MSCA(2, kernel_sizes=(3, 5, 7)))
    x = torch.randn(1, 2, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_transposed_map_with_transposed_kernels_gives_the_transposed_output():
    block = attention_reference.randomize(MSCA(3))
    state = block.state_dict()
    unbiased = {f"gate.branches.{i}.0.bias": torch.zeros_like(state[f"gate.branches.{i}.0.bias"]) for i in range(3)}
    swapped = dict(state | unbiased, **{"gate.local.weight": state["gate.local.weight"].mT})
    for i in range(3):
        first, second = f"gate.branches.{i}.0", f"gate.branches.{i}.1"
        swapped[f"{first}.weight"], swapped[f"{second}.weight"] = state[f"{second}.weight"].mT, state[f"{first}.weight"].mT
    transposed = MSCA(3).double().eval()
    transposed.load_state_dict(swapped)
    plain = MSCA(3).double().eval()
    plain.load_state_dict(state | unbiased)
    x = torch.randn(2, 3, 9, 14, dtype=torch.float64)
    torch.testing.assert_close(transposed(x.mT), plain(x).mT, rtol=0, atol=1e-10)
    assert not torch.allclose(plain(x.mT), plain(x).mT, atol=1e-3), "its own kernels: rows and columns differ"
    block_x = block(x)
    swapped_biased = MSCA(3).double().eval()
    swapped_biased.load_state_dict(swapped | {k: state[k] for k in unbiased})
    assert not torch.allclose(swapped_biased(x.mT), block_x.mT, atol=1e-6), "a first-conv bias breaks it at the borders"


def test_is_the_block_inside_mscan_and_rejects_even_kernels():
    attn = segfw.BACKBONES.build({"name": "mscan_t"}).stages[3].blocks[0].attn  # MSCAN-T's c5 blocks: 256 wide
    assert isinstance(MSCA(256), type(attn)) and MSCA(256).state_dict().keys() == attn.state_dict().keys()
    with pytest.raises(segfw.ConfigError, match="msca: kernel_sizes \\[5, 8\\] must be odd"):
        MSCA(4, kernel_sizes=(5, 8))
