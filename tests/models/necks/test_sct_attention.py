"""SCTNet's conv-former block: equal to the authors' code (fixture), to a float64 reference from the formula, and
symmetric in H and W once its 7×1 and 1×7 kernels are swapped (not before)."""

from __future__ import annotations

from pathlib import Path

import attention_reference
import depthwise_reference as ref
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.sctnet import cfblock_to_segfw
from segfw.models.necks.sct_attention import SCTAttentionBlock

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sct_attention" / "fixture.pt"


def conv(x, weight, padding):
    """Stride-1 conv with zero padding as a sum over taps (depthwise_reference.grouped_conv on a bare kernel)."""
    layer = torch.nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), padding=padding, bias=False)
    layer.weight = torch.nn.Parameter(weight)
    return ref.grouped_conv(x, layer)


def normalize(t, heads):
    """Per head: exp over the H·W positions divided by their sum, then divided by the head's channel sum + 1e-6."""
    batch, channels, height, width = t.shape
    out = torch.empty_like(t)
    step = channels // heads
    for h in range(heads):
        e = torch.exp(t[:, h * step : (h + 1) * step])
        soft = e / e.sum(dim=(2, 3), keepdim=True)
        out[:, h * step : (h + 1) * step] = soft / (soft.sum(dim=1, keepdim=True) + 1e-6)
    return out


def sct_block_reference(x, m):
    u = attention_reference.batch_norm(m.norm, x)
    z = x
    for kernel, padding in ((m.kernel_v, (3, 0)), (m.kernel_h, (0, 3))):
        z = z + conv(normalize(conv(u, kernel, padding), m.heads), kernel.transpose(0, 1), padding)
    hidden = ref.gelu(ref.grouped_conv(attention_reference.batch_norm(m.mlp_norm, z), m.mlp_in))
    return z + ref.grouped_conv(hidden, m.mlp_out)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_equals_the_official_code_forward_and_input_gradient(mode):
    fixture = torch.load(FIXTURE, weights_only=True)
    block = SCTAttentionBlock(64)
    block.load_state_dict(cfblock_to_segfw(fixture["state"]), strict=True)
    block.train(mode == "train")
    assert_matches_fixture(block, fixture, f"{mode}_output", f"{mode}_input_grad")


def test_converter_takes_a_prefix_and_rejects_unknown_modules():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"backbone.layer4.{k}": v for k, v in state.items()} | {"backbone.conv1.0.weight": torch.ones(1)}
    assert cfblock_to_segfw(prefixed, prefix="backbone.layer4.").keys() == cfblock_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="SCTNet CFBlock keys with no segfw counterpart: attn_l.q.weight"):
        cfblock_to_segfw(state | {"attn_l.q.weight": torch.ones(1)})


def test_matches_the_float64_reference_on_an_odd_non_square_map():
    block = attention_reference.randomize(SCTAttentionBlock(6, inter_channels=4, heads=2))
    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), sct_block_reference(x, block), rtol=0, atol=1e-10)


def test_gradcheck():
    block = attention_reference.randomize(SCTAttentionBlock(2, inter_channels=2, heads=1))
    x = torch.randn(1, 2, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_transposed_map_gives_the_transposed_output_once_the_strip_kernels_are_swapped(mode):
    block = attention_reference.randomize(SCTAttentionBlock(4, inter_channels=4, heads=2)).train(mode == "train")
    x = torch.randn(2, 4, 9, 14, dtype=torch.float64)
    assert not torch.allclose(block(x.mT), block(x).mT, atol=1e-3)
    state = block.state_dict()
    state["kernel_v"], state["kernel_h"] = state["kernel_h"].mT, state["kernel_v"].mT
    for key in ("mlp_in.weight", "mlp_out.weight"):
        state[key] = state[key].mT
    swapped = SCTAttentionBlock(4, inter_channels=4, heads=2).double().train(mode == "train")
    swapped.load_state_dict(state)
    torch.testing.assert_close(swapped(x.mT), block(x).mT, rtol=0, atol=1e-12)


def test_rejects_heads_that_do_not_divide_the_kernels():
    with pytest.raises(segfw.ConfigError, match="heads \\(3\\) must divide inter_channels \\(64\\)"):
        SCTAttentionBlock(8, heads=3)
