"""LightHamHead's NMF against a float64 reference from the multiplicative-update formula; its randomness switch
(rand_init: fresh bases from the global generator, or fixed ones in the state dict); inference padding to a
multiple of the model's test_size_divisor."""

from __future__ import annotations

import torch

import segfw
from segfw.models.blocks.hamburger import NMF2D
from segfw.models.conversion.mmseg import mmseg_to_segfw
from segfw.models.feature_spec import FeatureSpec


def nmf_reference(x, bases, steps):
    """X ≈ U Vᵀ per sample, from the formula: V = softmax(XᵀU); steps × (V ← V∘XᵀU / (VUᵀU + ε),
    U ← U∘XV / (UVᵀV + ε)); a last V update; output U Vᵀ."""
    out = []
    for xb, u in zip(x.flatten(2), bases):
        v = torch.softmax(xb.T @ u, dim=-1)
        for _ in range(steps):
            v = v * (xb.T @ u) / (v @ (u.T @ u) + 1e-6)
            u = u * (xb @ v) / (u @ (v.T @ v) + 1e-6)
        v = v * (xb.T @ u) / (v @ (u.T @ u) + 1e-6)
        out.append(u @ v.T)
    return torch.stack(out).reshape(x.shape)


def test_nmf_matches_the_float64_formula_with_fixed_bases_and_draws_fresh_ones_with_rand_init():
    torch.manual_seed(0)
    nmf = NMF2D(6, rank=3, train_steps=2, eval_steps=3).double()
    x = torch.rand(2, 6, 5, 7, dtype=torch.float64)
    bases = nmf.bases.repeat(2, 1, 1)
    torch.testing.assert_close(nmf.eval()(x), nmf_reference(x, bases, 3), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(nmf.train()(x), nmf_reference(x, bases, 2), rtol=1e-10, atol=1e-12)
    assert torch.equal(nmf.eval()(x), nmf(x)), "fixed bases: a deterministic eval"

    fresh = NMF2D(6, rank=3, rand_init=True).double().eval()
    assert "bases" not in fresh.state_dict()
    torch.manual_seed(5)
    first = fresh(x)
    torch.manual_seed(5)
    drawn = torch.nn.functional.normalize(torch.rand(2, 6, 3).double(), dim=1)  # float32 draws, as mmseg's
    torch.testing.assert_close(first, nmf_reference(x, drawn, 7), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(fresh(x), first), "rand_init: new bases at every forward, in eval too"


def test_gradients_flow_through_every_update():
    torch.manual_seed(0)
    nmf = NMF2D(4, rank=2, train_steps=3).double().train()
    x = torch.rand(1, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(nmf, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_fixed_bases_convert_from_mmseg_and_narrow_widths_build():
    head = segfw.HEADS.build({"name": "light_ham", "ham_channels": 8, "channels": 8},
                             in_specs={"c3": FeatureSpec(4, 8), "c4": FeatureSpec(4, 16), "c5": FeatureSpec(4, 32)},
                             num_classes=3)
    assert head.hamburger.ham_out[1].num_groups == 8  # gcd(32, 8)
    state = mmseg_to_segfw({"decode_head.hamburger.ham.bases": torch.ones(1, 8, 16),
                            "decode_head.conv_seg.weight": torch.ones(3, 8, 1, 1)})
    assert set(state) == {"head.hamburger.nmf.bases", "head.classifier.1.weight"}


def test_inference_pads_to_the_divisor_and_crops_back(compose):
    model = segfw.build_segmentor(compose("train", ["model=segnext_mscan-t", "model.head.rand_init=false"]).model,
                                  num_classes=3).eval()
    images = torch.randn(1, 3, 37, 45)
    with torch.no_grad():
        got = model(images)
        model.test_size_divisor = None
        padded = torch.nn.functional.pad(images, (0, 64 - 45, 0, 64 - 37))
        expected = model(padded)[..., :37, :45]
        unpadded = model(images)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, unpadded, atol=1e-3)
