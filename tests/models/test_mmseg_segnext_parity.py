"""SegNeXt presets equal mmsegmentation 1.2.2's models, logit for logit and loss for loss.

mmseg's ``EncoderDecoder`` is built from its published configs/segnext/segnext_mscan-*_1xb16-adamw-160k_ade20k-512x512.py
(the model node; ImageNet ``init_cfg`` dropped, BN as published), random weights, converted by ``convert_state("mmseg",
...)`` and loaded strictly. Eval logits go through mmseg's own test path (its ``test_cfg`` pads to a multiple of 32,
``postprocess_result`` crops back: :func:`mmseg_reference.mmseg_padded_logits`), ours through ``Segmentor.forward``
with the preset's ``test_size_divisor: 32``. The NMF draws random bases at every forward, in eval too: both sides
run from the same global seed, so they draw the same bases (both with ``rand_init=True``).
MSCAN-T: 2×3×97×129 (odd at every stride, padded to 128×160), eval logits and the training loss (drop path,
NMF bases and dropout drawn in the same order). S and L (the same code with wider stages, the deepest stack and
the widest head): strict conversion of the whole model and eval logits on one 33×47 image. B (S's widths, depths
3-3-12-3, a 512 head: nothing L and S do not cover) is left out to keep the suite's time; its preset still
composes and trains a step in tests/models/test_presets.py.
"""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm

NUM_CLASSES = 7
SIZE = (97, 129)
TINY = (33, 47)
DIVISOR = 32


def build_pair(variant: str, compose):
    config = f"segnext/segnext_mscan-{variant}_1xb16-adamw-160k_ade20k-512x512"
    reference = mm.build_mmseg_model(config, num_classes=NUM_CLASSES, backbone=dict(init_cfg=None))
    model_cfg = compose("train", [f"model=segnext_mscan-{variant}"]).model
    return reference, mm.converted_preset(reference, model_cfg, NUM_CLASSES)


def assert_same_padded_eval_logits(ours, reference, images):
    torch.manual_seed(2)  # the same NMF bases on both sides
    expected = mm.mmseg_padded_logits(reference, images, DIVISOR)
    torch.manual_seed(2)
    with torch.no_grad():
        got = ours.eval()(images)
    assert got.shape == expected.shape == (len(images), NUM_CLASSES, *images.shape[-2:])
    scale = expected.abs().max()
    assert scale > 1e-3
    assert (got - expected).abs().max() <= 1e-4 * scale


def test_segnext_mscan_t_equals_mmseg(compose):
    images, masks = mm.random_batch(SIZE, NUM_CLASSES)
    reference, ours = build_pair("t", compose)
    assert ours.test_size_divisor == DIVISOR
    assert_same_padded_eval_logits(ours, reference, images)
    mm.assert_same_training_losses(ours, reference, images, masks, {"decode.loss_ce": "loss_ce"})


@pytest.mark.parametrize("variant", ["s", "l"])
def test_segnext_wider_variants_convert_and_equal_mmseg(variant, compose):
    images, _ = mm.random_batch(TINY, NUM_CLASSES)
    reference, ours = build_pair(variant, compose)
    assert_same_padded_eval_logits(ours, reference, images[:1])
