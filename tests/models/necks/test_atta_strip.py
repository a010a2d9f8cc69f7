"""AttaNet's strip attention: equal to the authors' code (fixture), to a float64 reference from the formula,
and not symmetric in H and W (it gathers column strips only)."""

from __future__ import annotations

from pathlib import Path

import attention_reference as ref
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.attanet import attanet_sam_to_segfw
from segfw.models.necks.atta_strip import AttaStrip

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "atta_strip" / "fixture.pt"


def cbr(x, block):
    return torch.clamp(ref.batch_norm(block[1], ref.conv1x1(block[0], x)), min=0)


def sam_reference(x, m):
    """Pixel by pixel: softmax over the W column means of q of q_jᵀ k_p, then Σ_j A[j, p] v_j."""
    q, k, v = cbr(x, m.query).mean(dim=2), cbr(x, m.key), cbr(x, m.value).mean(dim=2)  # (B, m, W), (B, m, H, W), (B, C, W)
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                scores = q[b].T @ k[b, :, i, j]  # (W,)
                weights = torch.exp(scores - scores.max())
                out[b, :, i, j] = v[b] @ (weights / weights.sum())
    return x + out


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_equals_the_official_code_forward_and_input_gradient(mode):
    fixture = torch.load(FIXTURE, weights_only=True)
    block = AttaStrip(64)
    block.load_state_dict(attanet_sam_to_segfw(fixture["state"]), strict=True)
    block.train(mode == "train")
    assert_matches_fixture(block, fixture, f"{mode}_output", f"{mode}_input_grad")


def test_converter_takes_a_prefix_and_rejects_unknown_modules():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"head.sam.{k}": v for k, v in state.items()} | {"head.conv_head2.conv.weight": torch.ones(1)}
    assert attanet_sam_to_segfw(prefixed, prefix="head.sam.").keys() == attanet_sam_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="AttaNet SAM keys with no segfw counterpart: conv4.conv.weight"):
        attanet_sam_to_segfw(state | {"conv4.conv.weight": torch.ones(1)})


def test_matches_the_float64_reference_on_an_odd_non_square_map():
    block = ref.randomize(AttaStrip(6, key_channels=4))
    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), sam_reference(x, block), rtol=0, atol=1e-10)


def test_gradcheck():
    block = ref.randomize(AttaStrip(3, key_channels=2))
    x = torch.randn(1, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gathers_columns_only_so_a_transposed_map_does_not_give_the_transposed_output():
    block = ref.randomize(AttaStrip(4, key_channels=3))
    x = torch.randn(2, 4, 9, 14, dtype=torch.float64)
    assert not torch.allclose(block(x.mT), block(x).mT, atol=1e-3)
    # a map constant down each column: the strips are the pixels of one row, the output constant down columns too
    column_constant = x[:, :, :1].expand(-1, -1, 9, -1)
    out = block(column_constant)
    torch.testing.assert_close(out, out[:, :, :1].expand_as(out), rtol=0, atol=1e-12)
