"""Attention necks against slow float64 references that loop over pixels, plus gradient checks."""

from __future__ import annotations

import math

import attention_reference as ref
import pytest
import torch
from torch.func import functional_call

from segfw.models.feature_spec import FeatureSpec
from segfw.models.necks.criss_cross import CrissCross
from segfw.models.necks.dual_attention import DualAttention
from segfw.models.necks.level_neck import build_neck
from segfw.models.necks.non_local import NonLocal
from segfw.models.necks.strip_attention import StripAttention

SCORES = ["dot", "scaled_dot", "additive", "bilinear", "cosine"]
PAIRS = [(s, n) for s in SCORES for n in ("softmax", "sigmoid")]
NECKS = {"strip_attention": StripAttention, "non_local": NonLocal, "criss_cross": CrissCross,
         "dual_attention": DualAttention}


def feature_map(batch=2, channels=16, height=13, width=21, seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, height, width, generator=g, dtype=torch.float64)


def explicit_strips(x):
    """(B, C, H, W) → (B, H + W, C): strip means accumulated pixel by pixel."""
    batch, channels, height, width = x.shape
    strips = x.new_zeros(batch, height + width, channels)
    for i in range(height):
        for j in range(width):
            strips[:, i] += x[:, :, i, j] / width
            strips[:, height + j] += x[:, :, i, j] / height
    return strips


def linear(layer, x):
    return x @ layer.weight.T + layer.bias


def sinusoid(p, dim):
    """The sinusoidal code of index p, written out: [sin(p ω_0), cos(p ω_0), sin(p ω_1), ...]."""
    code = [math.sin(p * 10000 ** (-2 * (i // 2) / dim)) if i % 2 == 0 else math.cos(p * 10000 ** (-2 * (i // 2) / dim))
            for i in range(dim)]
    return torch.tensor(code, dtype=torch.float64)


def strip_position_codes(neck, height, width):
    """Pixel and strip position terms per head slice: pixel (i, j) → [r_i, c_j], row strip i → [r_i, 0],
    column strip j → [0, c_j], repeated over the heads."""
    positions = neck.positions
    dr, dc, heads = positions.row_dim, positions.col_dim, positions.heads
    if positions.mode == "learned":
        rows, cols = positions.rows, positions.cols  # tests use maps of the table's length
        assert rows.shape[0] == height and cols.shape[0] == width
    else:
        rows = torch.stack([sinusoid(i, dr) for i in range(height)]) if dr else torch.zeros(height, 0, dtype=torch.float64)
        cols = torch.stack([sinusoid(j, dc) for j in range(width)])
    pixel = torch.stack([torch.cat([rows[i], cols[j]]) for i in range(height) for j in range(width)])
    strip = torch.stack([torch.cat([rows[i], torch.zeros(dc, dtype=torch.float64)]) for i in range(height)]
                        + [torch.cat([torch.zeros(dr, dtype=torch.float64), cols[j]]) for j in range(width)])
    return pixel.repeat(1, heads), strip.repeat(1, heads)


def strip_attention_reference(neck, x):
    query = ref.conv1x1(neck.query, x).flatten(2).transpose(1, 2)
    strips = explicit_strips(x)
    key = linear(neck.key, strips)
    if neck.positions is not None:
        pixel, strip = strip_position_codes(neck, *x.shape[-2:])
        query, key = query + pixel, key + strip
    out = neck.attention(query, key, linear(neck.value, strips))
    out = out.transpose(1, 2).reshape(x.shape[0], -1, *x.shape[-2:])
    return x + neck.gamma * ref.conv1x1(neck.project, out)


def non_local_reference(neck, score, normalize, x):
    y = ref.pixel_self_attention(neck.attention, score, normalize, x)
    return x + ref.batch_norm(neck.project[1], ref.conv1x1(neck.project[0], y))


def criss_cross_reference(neck, score, normalize, x):
    """Pixel (i, j) attends to column j without itself, then all of row i, normalised jointly."""
    for _ in range(neck.recurrence):
        q, k, v = (ref.conv1x1(conv, x) for conv in (neck.query, neck.key, neck.value))
        out = x.clone()
        for b in range(x.shape[0]):
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    def criss_cross(t):
                        return torch.cat([t[b, :, :i, j], t[b, :, i + 1 :, j], t[b, :, i, :]], dim=1).T

                    scores = ref.score_row(neck.score, score, q[b, :, i, j], criss_cross(k))
                    out[b, :, i, j] += neck.gamma * (ref.normalize_row(normalize, scores) @ criss_cross(v))
        x = out
    return x


def channel_attention_reference(cam, x):
    """DANet CAM: energy_cc' = <x_c, x_c'>, a = softmax(max - energy), y_c = x_c + γ Σ a_cc' x_c'."""
    flat = x.flatten(2)
    out = x.clone()
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            energy = torch.stack([(flat[b, c] * flat[b, c2]).sum() for c2 in range(x.shape[1])])
            a = ref.normalize_row("softmax", energy.max() - energy)
            out[b, c] += cam.gamma * (a @ flat[b]).view(x.shape[2:])
    return out


def dual_attention_reference(neck, score, normalize, x):
    conv_in, pam, conv_out = neck.position
    y = conv_in(x)
    position = conv_out(y + pam.gamma * ref.pixel_self_attention(pam.attention, score, normalize, y))
    conv_in, cam, conv_out = neck.channel
    return position + conv_out(channel_attention_reference(cam, conv_in(x)))


REFERENCES = {
    "non_local": non_local_reference,
    "criss_cross": criss_cross_reference,
    "dual_attention": dual_attention_reference,
}


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize(("score", "normalize"), PAIRS)
def test_strip_attention_is_the_core_on_explicit_strips(score, normalize, heads):
    x = feature_map()
    neck = ref.randomize(StripAttention(16, reduction=2, score=score, normalize=normalize, heads=heads))
    torch.testing.assert_close(neck(x), strip_attention_reference(neck, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("position", ["none", "sinusoidal", "learned"])
def test_strip_attention_positions_match_their_formula(position, heads):
    x = feature_map(channels=24, height=13, width=13)
    neck = StripAttention(24, reduction=2, heads=heads, position=position)
    if position == "learned":
        neck.positions = type(neck.positions)(12, heads, "learned", length=13)
    neck = ref.randomize(neck)
    torch.testing.assert_close(neck(x), strip_attention_reference(neck, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_with_positions_a_pixel_finds_its_own_row_and_column(position):
    """Two pixels with the same features in different rows and columns: without position terms they
    see the same queries against the same unordered strips, so their outputs must be equal; with
    them each pixel favours its own row and column strip, and the outputs differ."""
    x = feature_map(batch=1, height=9, width=11)
    x[..., 6, 8] = x[..., 2, 3]
    outputs = {}
    for mode in ("none", position):
        torch.manual_seed(0)
        neck = StripAttention(16, reduction=2, position=mode).double()
        with torch.no_grad():
            neck.gamma.fill_(1.0)
            outputs[mode] = neck(x)
    blind, aware = outputs["none"], outputs[position]
    torch.testing.assert_close(blind[..., 6, 8], blind[..., 2, 3], rtol=1e-12, atol=1e-12)  # cannot differ
    assert (aware[..., 6, 8] - aware[..., 2, 3]).abs().max() > 1e-3


def test_sinusoidal_codes_make_the_own_row_strip_the_best_match():
    from segfw.models.attention.strip_positions import StripPositions

    query_pos, key_pos = StripPositions(32, mode="sinusoidal")(7, 5, like=torch.zeros(1))
    rows = (query_pos @ key_pos[:7].T).argmax(dim=1).view(7, 5)  # best row strip of each pixel
    cols = (query_pos @ key_pos[7:].T).argmax(dim=1).view(7, 5)
    assert torch.equal(rows, torch.arange(7)[:, None].expand(7, 5))
    assert torch.equal(cols, torch.arange(5)[None].expand(7, 5))


def test_learned_positions_resize_to_other_map_sizes_and_train():
    neck = StripAttention(16, reduction=2, position="learned")
    x = torch.randn(2, 16, 13, 21)
    neck.gamma.data.fill_(1.0)
    neck(x).square().mean().backward()
    assert neck.positions.rows.grad.abs().sum() > 0 and neck.positions.cols.grad.abs().sum() > 0


def test_strip_attention_core_itself_matches_its_loop_reference():
    x = feature_map(channels=8, height=5, width=7)
    neck = ref.randomize(StripAttention(8, reduction=2, score="additive", normalize="sigmoid"))
    query = ref.conv1x1(neck.query, x).flatten(2).transpose(1, 2)
    strips = explicit_strips(x)
    key, value = linear(neck.key, strips), linear(neck.value, strips)
    expected = ref.attention(neck.attention, "additive", "sigmoid", query, key, value)
    torch.testing.assert_close(neck.attention(query, key, value), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("score", "normalize"), PAIRS)
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_neck_matches_pixel_loop_reference(name, score, normalize):
    x = feature_map()
    neck = ref.randomize(NECKS[name](16, score=score, normalize=normalize))
    torch.testing.assert_close(neck(x), REFERENCES[name](neck, score, normalize, x), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("name", sorted(NECKS))
def test_neck_input_gradients(name, score):
    neck = ref.randomize(NECKS[name](8, score=score), seed=5)
    x = feature_map(batch=1, channels=8, height=3, width=5).requires_grad_()
    assert torch.autograd.gradcheck(neck, (x,), fast_mode=True)


@pytest.mark.parametrize("name", sorted(NECKS))
def test_neck_parameter_gradients(name):
    neck = ref.randomize(NECKS[name](8, normalize="sigmoid"), seed=6)
    names, params = zip(*neck.named_parameters())
    x = feature_map(batch=1, channels=8, height=3, width=4).requires_grad_()
    def run(x, *p):
        return functional_call(neck, dict(zip(names, p)), (x,))

    assert torch.autograd.gradcheck(run, (x, *params), fast_mode=True)


@pytest.mark.parametrize("name", sorted(NECKS))
def test_residual_scales_start_at_zero_so_necks_start_near_identity(name):
    neck = NECKS[name](16).eval()
    x = feature_map().float()
    if name == "dual_attention":  # the branch convs are not residual: only the attention inside them is
        for branch in (neck.position, neck.channel):
            torch.testing.assert_close(branch[1](branch[0](x)), branch[0](x))
    else:
        torch.testing.assert_close(neck(x), x)


@pytest.mark.parametrize("name", sorted(NECKS))
def test_score_and_normalize_are_hydra_overrides(name, compose):
    overrides = [f"model/neck={name}", "model.neck.score=additive", "model.neck.normalize=sigmoid"]
    node = compose("train", overrides).model.neck
    neck = build_neck(node, {"c5": FeatureSpec(16, 8)}).block
    scores = [m for m in neck.modules() if type(m).__name__ == "AdditiveScore"]
    gates = [m for m in neck.modules() if type(m).__name__ == "SigmoidGates"]
    assert scores and gates
