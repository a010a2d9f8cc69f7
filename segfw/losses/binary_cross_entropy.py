"""Binary cross-entropy for one-channel (sigmoid) models: foreground = label 1."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.losses.pixels import class_weight_buffer, labelled_pixels
from segfw.registry import LOSSES


@LOSSES.register("binary_cross_entropy")
class BinaryCrossEntropyLoss(nn.Module):
    """Mean over labelled pixels of ``-[g log σ(z) + (1 - g) log(1 - σ(z))]``, g = (label == 1).

    ``forward(logits: (B, 1, H, W), target: (B, H, W) int64 in {0, 1, ignore}) -> scalar``.
    ``class_weights`` [w_background, w_foreground] weight each pixel's term by its label, and the
    mean becomes ``Σ w l / Σ w`` (a rare foreground: w_foreground > 1).
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, class_weights: list[float] | None = None):
        super().__init__()
        self.ignore_index = ignore_index
        class_weight_buffer(self, class_weights)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.shape[1] != 1:
            raise ValueError(f"binary_cross_entropy needs one output channel (binary mode), got {logits.shape[1]}")
        rows, labels = labelled_pixels(logits, target, self.ignore_index)
        truth = (labels == 1).to(rows.dtype)
        losses = F.binary_cross_entropy_with_logits(rows[:, 0], truth, reduction="none")
        if self.class_weights is None:
            return losses.sum() / max(labels.numel(), 1)
        weights = self.class_weights.to(losses)[truth.long()]
        return (losses * weights).sum() / weights.sum().clamp(min=1e-12)
