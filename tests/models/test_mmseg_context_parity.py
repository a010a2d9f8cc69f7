"""ccnet_r50-d8, nonlocal_r50-d8 and danet_r50-d8 equal mmsegmentation 1.2.2's models, logit for
logit and loss for loss (DANet's three decode losses included).

mmseg's ``EncoderDecoder`` is built from its published config (BN instead of SyncBN, random weights
and BN statistics), its state dict converted by the checkpoint converter and loaded strictly into
the preset; eval-mode logits and training losses are compared on a random batch of odd size.
"""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm

NUM_CLASSES = 7
SIZE = (97, 129)
# our preset → (mmseg's configs/_base_/models/<name>.py, its loss names → ours)
PRESETS = {
    "ccnet_r50-d8": ("ccnet_r50-d8", {"decode.loss_ce": "loss_ce", "aux.loss_ce": "loss_aux"}),
    "nonlocal_r50-d8": ("nonlocal_r50-d8", {"decode.loss_ce": "loss_ce", "aux.loss_ce": "loss_aux"}),
    "danet_r50-d8": ("danet_r50-d8", {"decode.pam_cam.loss_ce": "loss_ce", "decode.pam.loss_ce": "loss_pam",
                                      "decode.cam.loss_ce": "loss_cam", "aux.loss_ce": "loss_aux"}),
}


@pytest.fixture(scope="module")
def batch():
    return mm.random_batch(SIZE, NUM_CLASSES)


def build_pair(preset: str, compose):
    reference = mm.build_mmseg_model(PRESETS[preset][0], num_classes=NUM_CLASSES)
    with torch.no_grad():  # CC and DA attention start switched off (γ = 0): switch it on
        for name, p in reference.named_parameters():
            if name.endswith("gamma.scale"):
                p.fill_(0.7)
    return reference, mm.converted_preset(reference, compose("train", [f"model={preset}"]).model, NUM_CLASSES)


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_equals_mmseg(preset, compose, batch):
    images, masks = batch
    reference, ours = build_pair(preset, compose)

    mm.assert_same_eval_logits(ours, reference, images, (2, NUM_CLASSES, *SIZE))

    # the same dropout masks: both classify in the same order (DANet: PAM, CAM, sum; then aux)
    mm.assert_same_training_losses(ours, reference, images, masks, PRESETS[preset][1])
