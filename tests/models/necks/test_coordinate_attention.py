"""Coordinate attention: equal to the authors' code (fixture), to a float64 reference from the formula, and
symmetric in H and W once its row and column convs are swapped (not before)."""

from __future__ import annotations

from pathlib import Path

import attention_reference
import depthwise_reference as ref
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.coordatt import coordatt_to_segfw
from segfw.models.necks.coordinate_attention import CoordinateAttention

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "coordinate_attention" / "fixture.pt"


def hard_swish(t):
    return t * torch.clamp(t + 3, 0, 6) / 6


def coordinate_attention_reference(x, m):
    height, width = x.shape[-2:]
    z_h = x.sum(dim=3, keepdim=True) / width  # (B, C, H, 1)
    z_w = x.sum(dim=2, keepdim=True) / height  # (B, C, 1, W)
    f_h = hard_swish(attention_reference.batch_norm(m.norm, ref.grouped_conv(z_h, m.squeeze)))
    f_w = hard_swish(attention_reference.batch_norm(m.norm, ref.grouped_conv(z_w, m.squeeze)))
    return x * ref.sigmoid(ref.grouped_conv(f_h, m.excite_h)) * ref.sigmoid(ref.grouped_conv(f_w, m.excite_w))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_equals_the_official_code_forward_and_input_gradient(mode):
    fixture = torch.load(FIXTURE, weights_only=True)
    block = CoordinateAttention(64)
    block.load_state_dict(coordatt_to_segfw(fixture["state"]), strict=True)
    block.train(mode == "train")
    assert_matches_fixture(block, fixture, f"{mode}_output", f"{mode}_input_grad")


def test_converter_takes_a_prefix_and_rejects_unknown_modules():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"features.3.ca.{k}": v for k, v in state.items()} | {"classifier.weight": torch.ones(1)}
    assert coordatt_to_segfw(prefixed, prefix="features.3.ca.").keys() == coordatt_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="CoordAtt keys with no segfw counterpart: conv2.weight"):
        coordatt_to_segfw(state | {"conv2.weight": torch.ones(1)})


@pytest.mark.parametrize("channels, reduction", [(6, 32), (40, 4)])
def test_matches_the_float64_reference_on_an_odd_non_square_map(channels, reduction):
    block = attention_reference.randomize(CoordinateAttention(channels, reduction=reduction))
    assert block.squeeze.out_channels == max(8, channels // reduction)
    x = torch.randn(2, channels, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), coordinate_attention_reference(x, block), rtol=0, atol=1e-10)


def test_gradcheck():
    block = attention_reference.randomize(CoordinateAttention(3, min_channels=2))
    x = torch.randn(1, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_transposed_map_gives_the_transposed_output_once_the_row_and_column_convs_are_swapped(mode):
    block = attention_reference.randomize(CoordinateAttention(4, min_channels=3)).train(mode == "train")
    x = torch.randn(2, 4, 9, 14, dtype=torch.float64)
    assert not torch.allclose(block(x.mT), block(x).mT, atol=1e-3)
    swapped = CoordinateAttention(4, min_channels=3).double().train(mode == "train")
    state = block.state_dict()
    for key in ("weight", "bias"):
        state[f"excite_h.{key}"], state[f"excite_w.{key}"] = state[f"excite_w.{key}"], state[f"excite_h.{key}"]
    swapped.load_state_dict(state)
    torch.testing.assert_close(swapped(x.mT), block(x).mT, rtol=0, atol=1e-12)
