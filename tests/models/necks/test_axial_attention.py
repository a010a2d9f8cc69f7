"""Axial-DeepLab's axial-attention block: equal to the authors' code (fixture, eval and train mode), to a float64
reference from the formula, and not symmetric in H and W (height attention first)."""

from __future__ import annotations

from pathlib import Path

import attention_reference
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.axial_deeplab import axial_block_to_segfw
from segfw.models.necks.axial_attention import AxialAttentionBlock

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "axial_attention" / "fixture.pt"


def affine(bn, t, channel_dim=1):
    """Eval-mode BatchNorm from its formula, channels along ``channel_dim``."""
    shape = [1] * t.dim()
    shape[channel_dim] = -1
    mean, var = bn.running_mean.view(shape), bn.running_var.view(shape)
    return (t - mean) / (var + bn.eps).sqrt() * bn.weight.view(shape) + bn.bias.view(shape)


def column_attention(u, att):
    """Attention within each column of u (B, C, H, W), pixel pair by pixel pair."""
    batch, channels, length, _ = u.shape
    heads, c = att.heads, channels // att.heads
    qkv = affine(att.qkv_norm, torch.einsum("oc,bchw->bohw", att.qkv.weight[:, :, 0], u))
    qkv = qkv.view(batch, heads, 2 * c, length, -1)
    q, k, v = qkv[:, :, : c // 2], qkv[:, :, c // 2 : c], qkv[:, :, c:]  # (B, h, ·, H, W)
    r_q, r_k, r_v = att.relative[: c // 2], att.relative[c // 2 : c], att.relative[c:]

    def embedding(table, offset):
        return table[:, min(max(offset, 1 - att.span), att.span - 1) + att.span - 1]

    scores = torch.zeros(batch, 3, heads, length, length, u.shape[-1], dtype=u.dtype)
    for i in range(length):
        for j in range(length):
            scores[:, 0, :, i, j] = (q[:, :, :, i] * k[:, :, :, j]).sum(2)
            scores[:, 1, :, i, j] = torch.einsum("bhcw,c->bhw", q[:, :, :, i], embedding(r_q, i - j))
            scores[:, 2, :, i, j] = torch.einsum("bhcw,c->bhw", k[:, :, :, j], embedding(r_k, j - i))
    scores = affine(att.similarity_norm, scores.reshape(batch, 3 * heads, length, length, -1)).view(scores.shape)
    weights = torch.softmax(scores.sum(1), dim=3)  # (B, h, H_i, H_j, W)
    sv = torch.einsum("bhijw,bhcjw->bhciw", weights, v)
    sve = torch.zeros_like(sv)
    for i in range(length):
        for j in range(length):
            sve[:, :, :, i] += weights[:, :, i, j, None] * embedding(r_v, i - j)[None, None, :, None]
    stacked = affine(att.output_norm, torch.cat([sv.reshape(batch, channels, length, -1),
                                                 sve.reshape(batch, channels, length, -1)], dim=1))
    return stacked[:, :channels] + stacked[:, channels:]


def axial_block_reference(x, m):
    u = torch.relu(affine(m.down_norm, torch.einsum("oc,bchw->bohw", m.down.weight[:, :, 0, 0], x)))
    u = column_attention(u, m.height)
    u = torch.relu(column_attention(u.mT, m.width).mT)  # row attention: columns of the transposed map
    return torch.relu(x + affine(m.up_norm, torch.einsum("oc,bchw->bohw", m.up.weight[:, :, 0, 0], u)))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_equals_the_official_code_forward_and_input_gradient(mode, span=32):
    """The official block's spans are the map's sides (13 and 21); segfw's one span ≥ both gives the same."""
    fixture = torch.load(FIXTURE, weights_only=True)
    block = AxialAttentionBlock(64, heads=8, span=span)
    block.load_state_dict(axial_block_to_segfw(fixture["state"], span=span), strict=True)
    block.train(mode == "train")
    assert_matches_fixture(block, fixture, f"{mode}_output", f"{mode}_input_grad")


def test_converter_takes_a_prefix_and_rejects_unknown_modules_and_short_spans():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"layer3.0.{k}": v for k, v in state.items()} | {"fc.weight": torch.ones(1)}
    assert axial_block_to_segfw(prefixed, prefix="layer3.0.").keys() == axial_block_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="AxialBlock keys with no segfw counterpart: downsample.0.weight"):
        axial_block_to_segfw(state | {"downsample.0.weight": torch.ones(1)})
    with pytest.raises(segfw.ConfigError, match="official kernel_size 21 is longer than segfw's span 16"):
        axial_block_to_segfw(state, span=16)


def test_matches_the_float64_reference_on_an_odd_non_square_map():
    """Span 9 < 13 < 21: offsets beyond ±8 take the edge embeddings, the others their own."""
    block = attention_reference.randomize(AxialAttentionBlock(8, heads=2, span=9))
    x = torch.randn(2, 8, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), axial_block_reference(x, block), rtol=0, atol=1e-10)


def test_gradcheck():
    block = attention_reference.randomize(AxialAttentionBlock(4, heads=1, span=4, width_ratio=0.5))
    x = torch.randn(1, 4, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_height_attention_comes_first_so_a_transposed_map_does_not_give_the_transposed_output():
    """Also with the two attentions' weights swapped: column-then-row is not row-then-column."""
    block = attention_reference.randomize(AxialAttentionBlock(4, heads=1, span=16))
    x = torch.randn(2, 4, 9, 14, dtype=torch.float64)
    assert not torch.allclose(block(x.mT), block(x).mT, atol=1e-3)
    swapped = AxialAttentionBlock(4, heads=1, span=16).double().eval()
    state = block.state_dict()
    swapped.load_state_dict({k.replace("height.", "@").replace("width.", "height.").replace("@", "width."): v
                             for k, v in state.items()})
    assert not torch.allclose(swapped(x.mT), block(x).mT, atol=1e-3)
    u = torch.randn(2, 2, 9, 14, dtype=torch.float64)  # but each attention alone is the other one transposed
    torch.testing.assert_close(swapped.height(u.mT), block.width(u).mT, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [({"heads": 3}, "multiple of 2 × heads = 6"), ({"span": 0}, "span must be")])
def test_rejects_widths_the_heads_do_not_split_and_empty_spans(kwargs, match):
    with pytest.raises(segfw.ConfigError, match=match):
        AxialAttentionBlock(32, **kwargs)
