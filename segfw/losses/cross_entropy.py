"""Pixel-wise cross-entropy with an ignore index."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.registry import LOSSES


@LOSSES.register("cross_entropy")
class CrossEntropyLoss(nn.Module):
    """Mean cross-entropy over non-ignored pixels.

    ``forward(logits: (B, K, H, W), target: (B, H, W) int64) -> scalar``. ``class_weights`` (length
    K) reweights classes as ``torch.nn.functional.cross_entropy`` does. A batch whose pixels are all
    ``ignore_index`` contributes 0 (with a zero gradient), not the nan of a mean over no pixels.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, class_weights: list[float] | None = None):
        super().__init__()
        self.ignore_index = ignore_index
        weight = None if class_weights is None else torch.as_tensor(list(class_weights), dtype=torch.float32)
        self.register_buffer("class_weights", weight, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        weight = None if self.class_weights is None else self.class_weights.to(logits.dtype)
        total = F.cross_entropy(logits, target, weight=weight, ignore_index=self.ignore_index, reduction="sum")
        valid = target != self.ignore_index
        if weight is None:
            count = valid.sum().to(total.dtype)
        else:
            count = (weight[torch.where(valid, target, 0)] * valid).sum().to(total.dtype)
        return total / torch.where(count > 0, count, torch.ones_like(count))  # no device sync
