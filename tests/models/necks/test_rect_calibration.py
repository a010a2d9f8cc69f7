"""CGRSeg's rectangular self-calibration module: equal to the authors' code (fixture), to a float64 reference
from the formula, and not symmetric in H and W (the band convs run along W, then along H)."""

from __future__ import annotations

from pathlib import Path

import attention_reference
import depthwise_reference as ref
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.cgrseg import rcm_to_segfw
from segfw.models.necks.rect_calibration import RectCalibration

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "rect_calibration" / "fixture.pt"


def rcm_reference(x, m):
    height, width = x.shape[-2:]
    row, column = x.sum(dim=3, keepdim=True) / width, x.sum(dim=2, keepdim=True) / height
    gathered = row.expand_as(x) + column.expand_as(x)
    hidden = torch.clamp(attention_reference.batch_norm(m.excite_norm, ref.grouped_conv(gathered, m.excite_h)), min=0)
    y = attention_reference.batch_norm(m.norm, ref.sigmoid(ref.grouped_conv(hidden, m.excite_v)) * ref.grouped_conv(x, m.local))
    return x + m.gamma[:, None, None] * ref.grouped_conv(ref.gelu(ref.grouped_conv(y, m.mlp_in)), m.mlp_out)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_equals_the_official_code_forward_and_input_gradient(mode):
    fixture = torch.load(FIXTURE, weights_only=True)
    block = RectCalibration(64)
    block.load_state_dict(rcm_to_segfw(fixture["state"]), strict=True)
    block.train(mode == "train")
    assert_matches_fixture(block, fixture, f"{mode}_output", f"{mode}_input_grad")


def test_converter_takes_a_prefix_and_rejects_unknown_modules():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"decode_head.rcm.{k}": v for k, v in state.items()} | {"decode_head.conv_seg.weight": torch.ones(1)}
    assert rcm_to_segfw(prefixed, prefix="decode_head.rcm.").keys() == rcm_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="CGRSeg RCM keys with no segfw counterpart: token_mixer.excite.5"):
        rcm_to_segfw(state | {"token_mixer.excite.5.weight": torch.ones(1)})


@pytest.mark.parametrize("ratio", [1, 2])
def test_matches_the_float64_reference_on_an_odd_non_square_map(ratio):
    block = attention_reference.randomize(RectCalibration(6, band_kernel_size=5, ratio=ratio))
    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), rcm_reference(x, block), rtol=0, atol=1e-10)


def test_gradcheck():
    block = attention_reference.randomize(RectCalibration(3, band_kernel_size=3))
    x = torch.randn(1, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_band_convs_are_ordered_so_a_transposed_map_does_not_give_the_transposed_output():
    """Also with the square kernel transposed: the band convs' shapes fix their axes (1×k along W first,
    k×1 along H after the ReLU), and W-then-H is not H-then-W."""
    block = attention_reference.randomize(RectCalibration(4, band_kernel_size=5))
    x = torch.randn(2, 4, 9, 14, dtype=torch.float64)
    assert not torch.allclose(block(x.mT), block(x).mT, atol=1e-3)
    transposed = RectCalibration(4, band_kernel_size=5).double().eval()
    state = block.state_dict()
    state["local.weight"] = state["local.weight"].mT
    transposed.load_state_dict(state)
    assert not torch.allclose(transposed(x.mT), block(x).mT, atol=1e-3)


@pytest.mark.parametrize("kwargs, match", [({"square_kernel_size": 2}, "must be odd"), ({"ratio": 3}, "must divide")])
def test_rejects_sizes_that_change_the_map_or_do_not_group(kwargs, match):
    with pytest.raises(segfw.ConfigError, match=match):
        RectCalibration(4, **kwargs)
