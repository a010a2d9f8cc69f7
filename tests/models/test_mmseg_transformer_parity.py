"""SegFormer presets equal mmsegmentation 1.2.2's models, logit for logit and loss for loss.

mmseg's ``EncoderDecoder`` is built from its published config values (configs/_base_/models/segformer_mit-b0.py
plus the per-variant changes of configs/segformer/segformer_mit-b*_8xb2-160k_ade20k-512x512.py), random
weights, converted by ``convert_state("mmseg", ...)`` and loaded strictly. Eval logits on an odd size
(97×129: every patch embedding rounds up) and training losses (drop path 0.1 and dropout drawn from the
same seed in the same order) are compared. B2…B5 run on one image of 49×65 (still odd at every stride) to keep
the test fast.
"""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm
import segfw
from segfw.models.conversion import convert_state

NUM_CLASSES = 7
SIZE = (97, 129)
SMALL = (49, 65)
# preset → changes to mmseg's segformer_mit-b0 base (its configs/segformer/*_ade20k-512x512.py)
WIDE = dict(embed_dims=64)
SEGFORMER = {
    "segformer_mit-b0": {},
    "segformer_mit-b1": dict(backbone=dict(WIDE, num_layers=[2, 2, 2, 2])),
    "segformer_mit-b2": dict(backbone=dict(WIDE, num_layers=[3, 4, 6, 3])),
    "segformer_mit-b3": dict(backbone=dict(WIDE, num_layers=[3, 4, 18, 3])),
    "segformer_mit-b4": dict(backbone=dict(WIDE, num_layers=[3, 8, 27, 3])),
    "segformer_mit-b5": dict(backbone=dict(WIDE, num_layers=[3, 6, 40, 3])),
}


def build_pair(preset: str, compose):
    changes = dict(SEGFORMER[preset])
    if changes:
        changes["decode_head"] = dict(in_channels=[64, 128, 320, 512])
    reference = mm.build_mmseg_model("segformer_mit-b0", num_classes=NUM_CLASSES, **changes)
    ours = segfw.build_segmentor(compose("train", [f"model={preset}"]).model, num_classes=NUM_CLASSES)
    ours.load_state_dict(convert_state("mmseg", reference.state_dict()))  # strict: every key maps
    return reference, ours


@pytest.mark.parametrize("preset", list(SEGFORMER))
def test_segformer_preset_equals_mmseg(preset, compose):
    size = SIZE if preset in ("segformer_mit-b0", "segformer_mit-b1") else SMALL
    images, masks = mm.random_batch(size, NUM_CLASSES)
    if size == SMALL:
        images, masks = images[:1], masks[:1]
    reference, ours = build_pair(preset, compose)

    mm.assert_same_eval_logits(ours, reference, images, (len(images), NUM_CLASSES, *size))

    torch.manual_seed(1)  # the same drop-path and dropout draws, in the same order
    expected = mm.mmseg_losses(reference, images, masks)
    torch.manual_seed(1)
    got = ours.train().losses(images, masks)
    assert set(expected) == {"decode.loss_ce"} and set(got) == {"loss_ce"}
    torch.testing.assert_close(got["loss_ce"], expected["decode.loss_ce"], rtol=1e-4, atol=0)
