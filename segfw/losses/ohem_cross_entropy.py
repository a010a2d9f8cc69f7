"""Cross-entropy on the hardest pixels only (online hard example mining, as in mmsegmentation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.losses.pixels import full_precision, class_weight_buffer, labelled_pixels
from segfw.registry import LOSSES


@LOSSES.register("ohem_cross_entropy")
class OhemCrossEntropyLoss(nn.Module):
    """Mean cross-entropy over the labelled pixels whose true-class probability is below a threshold.

    ``forward(logits: (B, K, H, W), target: (B, H, W) int64) -> scalar``. The threshold is
    ``max(thresh, p_(m))`` where ``p_(m)`` is the ``m``-th smallest true-class probability and
    ``m = min_kept · B`` (capped at the pixel count), so at least ``min_kept`` pixels per image count
    even when the model is confident everywhere. No gradient flows through the selection.
    ``class_weights`` (length K) weight the kept pixels' terms and their mean, as in cross-entropy.
    """

    def __init__(
        self,
        ignore_index: int = IGNORE_INDEX,
        class_weights: list[float] | None = None,
        thresh: float = 0.7,
        min_kept: int = 100_000,
    ):
        super().__init__()
        self.ignore_index, self.thresh, self.min_kept = ignore_index, thresh, min_kept
        class_weight_buffer(self, class_weights)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        rows, labels = labelled_pixels(logits, target, self.ignore_index)
        if labels.numel() == 0:
            return rows.sum() * 0.0
        losses = F.cross_entropy(full_precision(rows), labels, reduction="none")
        with torch.no_grad():
            true_prob = (-losses).exp()
            kth = min(self.min_kept * target.shape[0], labels.numel() - 1)
            threshold = max(self.thresh, float(true_prob.sort().values[kth]))
            hard = true_prob < threshold
        weights = hard.to(losses) if self.class_weights is None else hard * self.class_weights.to(losses)[labels]
        return (losses * weights).sum() / weights.sum().clamp(min=1e-12)
