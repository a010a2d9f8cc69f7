"""Soft Dice loss (Milletari et al., 2016) over the labelled pixels of a batch."""

from __future__ import annotations

from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.losses.pixels import class_weight_buffer, mean_over_classes, probabilities_and_one_hot
from segfw.registry import LOSSES


@LOSSES.register("dice")
class DiceLoss(nn.Module):
    """``1 - mean_k (2 Σ p_k g_k + s) / (Σ p_k + Σ g_k + s)`` over classes k, sums over the batch's
    labelled pixels; ``p`` softmax probabilities (sigmoid for one output channel), ``g`` one-hot labels.

    ``forward(logits: (B, K, H, W), target: (B, H, W) int64) -> scalar``. ``smooth`` = s keeps classes
    absent from both prediction and label at a loss of 0 instead of 0/0. ``class_weights`` (length K)
    turns the mean over classes into a weighted mean.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, class_weights: list[float] | None = None, smooth: float = 1.0):
        super().__init__()
        self.ignore_index, self.smooth = ignore_index, smooth
        class_weight_buffer(self, class_weights)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        probs, truth = probabilities_and_one_hot(logits, target, self.ignore_index)
        overlap = (probs * truth).sum(0)
        total = probs.sum(0) + truth.sum(0)
        return 1 - mean_over_classes((2 * overlap + self.smooth) / (total + self.smooth), self.class_weights)
