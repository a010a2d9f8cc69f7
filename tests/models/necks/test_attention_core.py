"""The attention core against float64 references written from each score's and normaliser's formula."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch.func import functional_call

from segfw.models.attention import NORMALIZERS, SCORES, Attention
from segfw.errors import ConfigError
import attention_reference as ref

SCORE_NAMES = ["dot", "scaled_dot", "additive", "bilinear", "cosine"]
NORMALIZER_NAMES = ["softmax", "sigmoid"]


def qkv(batch=2, n_query=5, n_key=7, dim=6, dim_v=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, n, c, generator=g, dtype=torch.float64) for n, c in
                 ((n_query, dim), (n_key, dim), (n_key, dim_v)))


def test_every_registered_score_and_normalizer_has_a_reference():
    assert SCORES.names() == sorted(SCORE_NAMES)
    assert NORMALIZERS.names() == sorted(NORMALIZER_NAMES)


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_score_matches_formula(name):
    q, k, _ = qkv()
    score = ref.randomize(SCORES.get(name)(q.shape[-1]))
    expected = torch.stack([torch.stack([ref.score_row(score, name, q[b, i], k[b]) for i in range(q.shape[1])])
                            for b in range(q.shape[0])])
    torch.testing.assert_close(score(q, k), expected, rtol=1e-10, atol=1e-10)


def test_additive_score_in_blocks_matches_whole_and_its_gradients():
    q, k, _ = qkv(n_query=9)
    score = ref.randomize(SCORES.get("additive")(q.shape[-1], hidden_dim=3))
    whole = score(q, k)
    score.chunk_elements = 2 * k.shape[1] * 3 * 2  # blocks of 2 queries: 5 blocks, the last one short
    torch.testing.assert_close(score(q, k), whole, rtol=1e-12, atol=1e-12)
    names, params = zip(*score.named_parameters())
    q.requires_grad_(), k.requires_grad_()
    assert torch.autograd.gradcheck(lambda q, k, *p: functional_call(score, dict(zip(names, p)), (q, k)),
                                    (q, k, *params), fast_mode=True)  # through the recomputed blocks


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_score_gradients(name):
    q, k, _ = qkv(batch=1, n_query=3, n_key=4, dim=4)
    score = ref.randomize(SCORES.get(name)(4))
    names, params = zip(*score.named_parameters()) if list(score.parameters()) else ((), ())
    q.requires_grad_(), k.requires_grad_()
    assert torch.autograd.gradcheck(lambda q, k, *p: functional_call(score, dict(zip(names, p)), (q, k)),
                                    (q, k, *params))


@pytest.mark.parametrize("name", NORMALIZER_NAMES)
def test_normalizer_matches_formula(name):
    scores = torch.randn(2, 3, 5, 7, dtype=torch.float64) * 3
    expected = torch.stack([ref.normalize_row(name, row) for row in scores.reshape(-1, 7)]).view_as(scores)
    torch.testing.assert_close(NORMALIZERS.get(name)()(scores), expected, rtol=1e-12, atol=1e-12)


def test_sigmoid_output_scale_does_not_grow_with_the_number_of_keys():
    """Same query/key/value statistics, 64 vs 384 keys: the sigmoid attention output keeps its scale
    (an unbiased sum of gates, Σ σ(s) v, grows about 6x here, which the test would catch)."""
    g = torch.Generator().manual_seed(0)
    attention = Attention(32, "scaled_dot", "sigmoid")

    def output_scale(n_key, gates):
        q = torch.randn(4, 50, 32, generator=g, dtype=torch.float64)
        k = torch.randn(4, n_key, 32, generator=g, dtype=torch.float64)
        v = 1 + torch.randn(4, n_key, 16, generator=g, dtype=torch.float64)  # values with a mean, as features have
        return gates(q, k).mul(v.unsqueeze(1)).sum(2).abs().mean() if gates else attention(q, k, v).abs().mean()

    ratio = output_scale(384, None) / output_scale(64, None)
    assert 0.8 < ratio < 1.25, ratio  # 1.07 measured

    def unbiased(q, k):
        return (q @ k.transpose(1, 2) / 32**0.5).sigmoid().unsqueeze(-1)

    assert output_scale(384, unbiased) / output_scale(64, unbiased) > 5


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("normalize", NORMALIZER_NAMES)
@pytest.mark.parametrize("score", SCORE_NAMES)
def test_attention_matches_loop_reference(score, normalize, heads):
    q, k, v = qkv()
    core = ref.randomize(Attention(6, score, normalize, heads))
    expected = ref.attention(core, score, normalize, q, k, v)
    torch.testing.assert_close(core(q, k, v), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(core.explicit(q, k, v), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("score", ["dot", "scaled_dot"])
def test_fused_path_equals_explicit_path(score):
    q, k, v = (t.float() for t in qkv(n_query=40, n_key=33, dim=8, dim_v=6))
    core = Attention(8, score, "softmax", heads=2)
    assert core.sdpa_scale is not None  # forward takes the fused path
    torch.testing.assert_close(core(q, k, v), core.explicit(q, k, v), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("score", "normalize"), [(s, n) for s in SCORE_NAMES for n in NORMALIZER_NAMES])
def test_only_dot_products_with_softmax_take_the_fused_path(score, normalize):
    fused = Attention(4, score, normalize).sdpa_scale is not None
    assert fused == (score in ("dot", "scaled_dot") and normalize == "softmax")


@pytest.mark.parametrize("score", SCORE_NAMES)
def test_attention_gradients(score):
    q, k, v = (t.requires_grad_() for t in qkv(batch=1, n_query=3, n_key=4, dim=4, dim_v=2))
    core = ref.randomize(Attention(4, score, "softmax", heads=2))
    assert torch.autograd.gradcheck(core, (q, k, v))


def test_unknown_names_list_the_choices():
    with pytest.raises(ConfigError, match="additive, bilinear, cosine, dot, scaled_dot"):
        Attention(8, score="dott")
    with pytest.raises(ConfigError, match="softmax"):
        Attention(8, normalize="softmx")
    with pytest.raises(ConfigError, match="heads"):
        Attention(6, heads=4)


@pytest.mark.parametrize(("score", "normalize"), [(s, n) for s in SCORE_NAMES for n in NORMALIZER_NAMES])
def test_attention_exports_to_onnx(score, normalize, tmp_path):
    q, k, v = (t.float() for t in qkv(n_query=9, n_key=7, dim=4, dim_v=4))
    core = Attention(4, score, normalize, heads=2).eval()
    for s in core.scores:
        if hasattr(s, "chunk_elements"):
            s.chunk_elements = 2 * 7 * 2 * 4  # exports the block loop too
    path = tmp_path / "attention.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(core, (q, k, v), path, opset_version=17, dynamo=False, input_names=["q", "k", "v"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"q": q.numpy(), "k": k.numpy(), "v": v.numpy()})
    np.testing.assert_allclose(out, core(q, k, v).detach().numpy(), rtol=1e-4, atol=1e-4)
