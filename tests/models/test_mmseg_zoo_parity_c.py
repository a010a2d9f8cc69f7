"""dnl_r50-d8, ann_r50-d8, apcnet_r50-d8 and dmnet_r50-d8 equal mmsegmentation 1.2.2's models, logit
for logit and loss for loss.

mmseg's ``EncoderDecoder`` is built from its published config (BN instead of SyncBN, random weights
and BN statistics, every parameter of the decode head's context modules perturbed so that no
zero-initialised layer silences a branch), its state dict converted by the checkpoint converter and
loaded strictly into the preset; eval-mode logits and training losses (decode and auxiliary) are
compared on a random batch of odd size (65×81, a 9×11 map at output stride 8: larger than every pooling
grid and filter of these heads, and half the pixels of the other parity tests, to keep four ResNet-50
pairs within seconds). These heads are plain PyTorch in mmseg: no stand-in is needed.
"""

from __future__ import annotations

import pytest
import torch

import mmseg_reference as mm

NUM_CLASSES = 7
SIZE = (65, 81)
LOSSES = {"decode.loss_ce": "loss_ce", "aux.loss_ce": "loss_aux"}
# our preset → (mmseg's configs/_base_/models/<name>.py, the decode-head modules whose parameters are perturbed)
PRESETS = {
    "dnl_r50-d8": ("dnl_r50-d8", ["dnl_block"]),
    "ann_r50-d8": ("ann_r50-d8", ["fusion", "context"]),
    "apcnet_r50-d8": ("apcnet_r50-d8", ["acm_modules"]),
    "dmnet_r50-d8": ("dmnet_r50-d8", ["dcm_modules"]),
}
# ANN's attention inputs reach ~1e4 with random weights and BN statistics, its scores ~1e8: a saturated softmax
# is an argmax that float rounding flips. Its query/key projections' BN scales and shifts are multiplied by
# these factors so that the scores spread over a few units (the largest of the 110 weights 2-4x the uniform 1/110).
TEMPERED = {"ann_r50-d8": {"fusion": 5e-3, "context": 2e-4}}


@pytest.fixture(scope="module")
def batch():
    return mm.random_batch(SIZE, NUM_CLASSES)


def build_pair(preset: str, compose):
    name, blocks = PRESETS[preset]
    reference = mm.build_mmseg_model(name, num_classes=NUM_CLASSES)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for block in blocks:
            for p in getattr(reference.decode_head, block).parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
        for block, factor in TEMPERED.get(preset, {}).items():
            stages = getattr(reference.decode_head, block).stages
            for m in {id(m): m for s in stages for m in (s.key_project, s.query_project)}.values():  # APNB shares them
                m.bn.weight.mul_(factor)
                m.bn.bias.mul_(factor)
    return reference, mm.converted_preset(reference, compose("train", [f"model={preset}"]).model, NUM_CLASSES)


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_equals_mmseg(preset, compose, batch):
    images, masks = batch
    reference, ours = build_pair(preset, compose)

    mm.assert_same_eval_logits(ours, reference, images, (2, NUM_CLASSES, *SIZE))

    # the same dropout masks: both run the decode head (its dropouts in the same order), then the auxiliary head
    mm.assert_same_training_losses(ours, reference, images, masks, LOSSES)
