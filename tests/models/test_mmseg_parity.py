"""mmseg-named presets equal mmsegmentation 1.2.2's models, logit for logit and loss for loss.

For each preset: mmseg's ``EncoderDecoder`` is built from its published config (BN instead of
SyncBN, random weights and BN statistics), its state dict converted by the checkpoint converter
and loaded strictly into our preset; eval-mode logits and training losses are compared on a
random batch of odd size.
"""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm
import segfw
from segfw.models.conversion import convert_state

NUM_CLASSES = 7
SIZE = (97, 129)
# our preset → mmseg's configs/_base_/models/<name>.py
PRESETS = {
    "fcn_r50-d8": "fcn_r50-d8",
    "pspnet_r50-d8": "pspnet_r50-d8",
    "deeplabv3_r50-d8": "deeplabv3_r50-d8",
    "deeplabv3plus_r50-d8": "deeplabv3plus_r50-d8",
    "upernet_r50": "upernet_r50",
}


@pytest.fixture(scope="module")
def batch():
    return mm.random_batch(SIZE, NUM_CLASSES)


def build_pair(preset: str, compose, align_corners: bool = False):
    changes = dict(decode_head=dict(align_corners=True), auxiliary_head=dict(align_corners=True)) if align_corners else {}
    reference = mm.build_mmseg_model(PRESETS[preset], num_classes=NUM_CLASSES, **changes)
    cfg = compose("train", [f"model={preset}"] + (["model.align_corners=true"] if align_corners else [])).model
    ours = segfw.build_segmentor(cfg, num_classes=NUM_CLASSES)
    ours.load_state_dict(convert_state("mmseg", reference.state_dict()))  # strict: every key maps
    return reference, ours


@pytest.mark.parametrize(
    "preset, align_corners",
    [(preset, False) for preset in PRESETS] + [("deeplabv3plus_r50-d8", True)],
    ids=list(PRESETS) + ["deeplabv3plus_r50-d8-align_corners"],
)
def test_preset_equals_mmseg(preset, align_corners, compose, batch):
    """align_corners=True: mmseg's 769x769 Cityscapes configs set it on both heads; ``model.align_corners`` here."""
    images, masks = batch
    reference, ours = build_pair(preset, compose, align_corners)

    mm.assert_same_eval_logits(ours, reference, images, (2, NUM_CLASSES, *SIZE))

    torch.manual_seed(1)  # the same dropout masks: both run the decode head, then the auxiliary head
    expected_losses = mm.mmseg_losses(reference, images, masks)
    torch.manual_seed(1)
    got_losses = ours.train().losses(images, masks)
    assert set(expected_losses) == {"decode.loss_ce", "aux.loss_ce"}
    torch.testing.assert_close(got_losses["loss_ce"], expected_losses["decode.loss_ce"], rtol=1e-4, atol=0)
    torch.testing.assert_close(got_losses["loss_aux"], expected_losses["aux.loss_ce"], rtol=1e-4, atol=0)
