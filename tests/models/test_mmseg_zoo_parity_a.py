"""gcnet_r50-d8 equals mmsegmentation 1.2.2's model, logit for logit and loss for loss.

mmseg's ``EncoderDecoder`` is built from its published config (BN instead of SyncBN, random weights
and BN statistics, every parameter of the context block perturbed so no zero-initialised transform
silences it), its state dict converted by the checkpoint converter and loaded strictly into the
preset; eval-mode logits and training losses (decode and auxiliary) are compared on a random batch
of odd size. mmcv's ``ContextBlock`` (GCHead) is plain PyTorch: no stand-in needed.
"""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm

NUM_CLASSES = 7
SIZE = (97, 129)
LOSSES = {"decode.loss_ce": "loss_ce", "aux.loss_ce": "loss_aux"}
# our preset → (mmseg's configs/_base_/models/<name>.py, the decode-head module whose parameters start at zero)
PRESETS = {"gcnet_r50-d8": ("gcnet_r50-d8", "gc_block")}


@pytest.fixture(scope="module")
def batch():
    return mm.random_batch(SIZE, NUM_CLASSES)


def build_pair(preset: str, compose):
    name, block = PRESETS[preset]
    reference = mm.build_mmseg_model(name, num_classes=NUM_CLASSES)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in getattr(reference.decode_head, block).parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return reference, mm.converted_preset(reference, compose("train", [f"model={preset}"]).model, NUM_CLASSES)


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_equals_mmseg(preset, compose, batch):
    images, masks = batch
    reference, ours = build_pair(preset, compose)

    mm.assert_same_eval_logits(ours, reference, images, (2, NUM_CLASSES, *SIZE))

    # the same dropout masks: both run the decode head, then the auxiliary head
    mm.assert_same_training_losses(ours, reference, images, masks, LOSSES)
