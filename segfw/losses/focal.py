"""Focal loss (Lin et al., ICCV 2017): cross-entropy down-weighting well-classified pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.losses.pixels import full_precision, class_weight_buffer, labelled_pixels
from segfw.registry import LOSSES


@LOSSES.register("focal")
class FocalLoss(nn.Module):
    """Mean over labelled pixels of ``-α_y (1 - p_y)^γ log p_y``.

    ``forward(logits: (B, K, H, W), target: (B, H, W) int64) -> scalar``. ``p_y``: the softmax
    probability of the true class (for one output channel, the sigmoid's probability of the true
    binary label). ``class_weights``: the per-class α (length K; for one channel [α_background,
    α_foreground]), or null for 1. ``gamma`` = 0 is cross-entropy.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, class_weights: list[float] | None = None, gamma: float = 2.0):
        super().__init__()
        self.ignore_index, self.gamma = ignore_index, gamma
        class_weight_buffer(self, class_weights)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        rows, labels = labelled_pixels(logits, target, self.ignore_index)
        rows = full_precision(rows)
        if rows.shape[1] == 1:  # binary: two-class logits [0, z] give the same sigmoid probabilities
            rows = torch.cat([torch.zeros_like(rows), rows], 1)
        log_p = F.log_softmax(rows, 1).gather(1, labels[:, None]).squeeze(1)
        loss = -((1 - log_p.exp()) ** self.gamma) * log_p
        if self.class_weights is not None:
            loss = loss * self.class_weights.to(loss)[labels]
        return loss.sum() / max(loss.numel(), 1)
