"""SeaFormer's squeeze-enhanced axial attention block: equal to the authors' code (fixture), to a float64 reference
from the formula, and symmetric in H and W once its row and column parameters are swapped (not before)."""

from __future__ import annotations

from pathlib import Path

import attention_reference
import depthwise_reference as ref
from fixture_check import assert_matches_fixture
import pytest
import torch

import segfw
from segfw.models.conversion.seaformer import seaformer_block_to_segfw
from segfw.models.necks.sea_attention import SeaAttentionBlock

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sea_attention" / "fixture.pt"


def conv_bn(layer, x):
    """Conv (no bias) then eval-mode BatchNorm, both from their formulas."""
    return attention_reference.batch_norm(layer[1], ref.grouped_conv(x, layer[0]))


def relu6(t):
    return torch.clamp(t, 0, 6)


def resize_linear(table, length):
    """(1, c, n) → (c, length): out[i] = (1 − λ) table[i0] + λ table[i0 + 1] at src = max((i + ½) n / length − ½, 0)."""
    n = table.shape[-1]
    out = []
    for i in range(length):
        src = max((i + 0.5) * n / length - 0.5, 0.0)
        i0 = min(int(src), n - 1)
        lam = src - i0
        out.append((1 - lam) * table[0, :, i0] + lam * table[0, :, min(i0 + 1, n - 1)])
    return torch.stack(out, dim=-1)


def squeezed_axis(axis, q, k, v, dim):
    """Attention among the strips along H (dim = 3 averaged away) or W (dim = 2), head by head, strip by strip."""
    length = q.shape[5 - dim]
    q_ = q.sum(dim) / q.shape[dim] + resize_linear(axis.position_q, length)  # (B, h·d_k, L)
    k_ = k.sum(dim) / k.shape[dim] + resize_linear(axis.position_k, length)
    v_ = v.sum(dim) / v.shape[dim]
    heads, out = axis.heads, torch.zeros_like(v_)
    d_k, d_v = q_.shape[1] // heads, v_.shape[1] // heads
    for h in range(heads):
        qh, kh, vh = q_[:, h * d_k : (h + 1) * d_k], k_[:, h * d_k : (h + 1) * d_k], v_[:, h * d_v : (h + 1) * d_v]
        for i in range(length):
            weights = torch.exp((qh[:, :, i : i + 1] * kh).sum(1) / d_k**0.5)  # (B, L)
            out[:, h * d_v : (h + 1) * d_v, i] = (weights[:, None] * vh).sum(-1) / weights.sum(-1, keepdim=True)
    return conv_bn(axis.encode, relu6(out.unsqueeze(dim)))


def sea_block_reference(x, m):
    q, k, v = conv_bn(m.to_q, x), conv_bn(m.to_k, x), conv_bn(m.to_v, x)
    detail = conv_bn(m.detail_pw, relu6(conv_bn(m.detail_dw, torch.cat([q, k, v], dim=1))))
    s = v + squeezed_axis(m.rows, q, k, v, 3) + squeezed_axis(m.columns, q, k, v, 2)
    z = x + relu6(conv_bn(m.proj, relu6(s)) + 3) / 6 * detail
    return z + conv_bn(m.mlp_out, relu6(ref.grouped_conv(conv_bn(m.mlp_in, z), m.mlp_dw)))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_equals_the_official_code_forward_and_input_gradient(mode):
    fixture = torch.load(FIXTURE, weights_only=True)
    block = SeaAttentionBlock(64, key_channels=16, heads=4)
    block.load_state_dict(seaformer_block_to_segfw(fixture["state"]), strict=True)
    block.train(mode == "train")
    assert_matches_fixture(block, fixture, f"{mode}_output", f"{mode}_input_grad")


def test_converter_takes_a_prefix_and_rejects_unknown_modules():
    state = torch.load(FIXTURE, weights_only=True)["state"]
    prefixed = {f"backbone.trans1.transformer_blocks.0.{k}": v for k, v in state.items()} | {"fc.weight": torch.ones(1)}
    converted = seaformer_block_to_segfw(prefixed, prefix="backbone.trans1.transformer_blocks.0.")
    assert converted.keys() == seaformer_block_to_segfw(state).keys()
    with pytest.raises(segfw.ConfigError, match="SeaFormer Block keys with no segfw counterpart: attn.extra.weight"):
        seaformer_block_to_segfw(state | {"attn.extra.weight": torch.ones(1)})


@pytest.mark.parametrize("attn_ratio", [2.0, 1.0])
def test_matches_the_float64_reference_on_an_odd_non_square_map(attn_ratio):
    """At ratio 1 the detail branch's width (2·h·d_k + h·d_v) is not the official seg code's 2·h·d_v
    (equal at the ratio 2 it uses)."""
    block = attention_reference.randomize(SeaAttentionBlock(6, key_channels=3, heads=2, attn_ratio=attn_ratio))
    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    torch.testing.assert_close(block(x), sea_block_reference(x, block), rtol=0, atol=1e-10)


def test_gradcheck():
    block = attention_reference.randomize(SeaAttentionBlock(3, key_channels=2, heads=1, attn_ratio=1.0, mlp_ratio=1.0))
    x = torch.randn(1, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_transposed_map_gives_the_transposed_output_once_rows_and_columns_are_swapped(mode):
    block = attention_reference.randomize(SeaAttentionBlock(4, key_channels=2, heads=2)).train(mode == "train")
    x = torch.randn(2, 4, 9, 14, dtype=torch.float64)
    assert not torch.allclose(block(x.mT), block(x).mT, atol=1e-3)
    state = block.state_dict()
    swapped = {k.replace("rows.", "@").replace("columns.", "rows.").replace("@", "columns."): v for k, v in state.items()}
    for key in ("detail_dw.0.weight", "mlp_dw.weight"):
        swapped[key] = state[key].mT
    transposed = SeaAttentionBlock(4, key_channels=2, heads=2).double().train(mode == "train")
    transposed.load_state_dict(swapped)
    torch.testing.assert_close(transposed(x.mT), block(x).mT, rtol=0, atol=1e-12)
