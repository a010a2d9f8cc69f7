"""The class_presence loss (EncNet's SE loss) against its definition, with a gradient check."""

from __future__ import annotations

import torch

import segfw


def test_class_presence_loss_is_the_mean_bce_of_the_classes_each_mask_contains():
    logits = torch.randn(2, 4, 1, 1, dtype=torch.float64, requires_grad=True)
    masks = torch.tensor([[[0, 2], [2, 255]], [[255, 255], [3, 3]]])
    present = [[1, 0, 1, 0], [0, 0, 0, 1]]  # 255 is no class
    expected = sum(-(t * torch.log(torch.sigmoid(z)) + (1 - t) * torch.log(1 - torch.sigmoid(z)))
                   for zs, ts in zip(logits.flatten(1), present) for z, t in zip(zs, ts)) / 8
    loss = segfw.LOSSES.build({"name": "class_presence"})
    assert loss.image_level
    torch.testing.assert_close(loss(logits, masks), expected)
    assert torch.autograd.gradcheck(lambda z: loss(z, masks), (logits,))
