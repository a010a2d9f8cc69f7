"""Lovász-softmax loss (Berman et al., CVPR 2018): a convex surrogate of the Jaccard loss (1 - IoU)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.losses.pixels import class_weight_buffer, mean_over_classes, probabilities_and_one_hot
from segfw.registry import LOSSES


def lovasz_grad(sorted_truth: Tensor) -> Tensor:
    """Gradient of the Lovász extension of the Jaccard loss at errors sorted in decreasing order.

    ``sorted_truth (N,)``: the ground truth (0/1) of the pixels in that order. Entry i is
    ``J(1..i) - J(1..i-1)`` with ``J(1..i) = 1 - |G ∖ S_i| / |G ∪ S_i|`` over the first i pixels S_i.
    """
    gts = sorted_truth.sum()
    intersection = gts - sorted_truth.cumsum(0)
    union = gts + (1 - sorted_truth).cumsum(0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


@LOSSES.register("lovasz_softmax")
class LovaszSoftmaxLoss(nn.Module):
    """Mean over classes of ``<sort↓(e_k), ∇J(sorted truth)>`` with errors ``e_k = |g_k - p_k|`` over
    the batch's labelled pixels; ``p`` softmax probabilities (sigmoid for one output channel).

    ``forward(logits: (B, K, H, W), target: (B, H, W) int64) -> scalar``. ``classes="present"``
    averages over the classes present in the labels (the paper's choice), ``"all"`` over all K;
    ``class_weights`` (length K) make it a weighted mean.
    """

    def __init__(
        self, ignore_index: int = IGNORE_INDEX, class_weights: list[float] | None = None, classes: str = "present"
    ):
        super().__init__()
        if classes not in ("present", "all"):
            raise ValueError(f"lovasz_softmax: classes must be 'present' or 'all', got '{classes}'")
        self.ignore_index, self.classes = ignore_index, classes
        class_weight_buffer(self, class_weights)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        probs, truth = probabilities_and_one_hot(logits, target, self.ignore_index)
        classes = [k for k in range(probs.shape[1]) if self.classes == "all" or truth[:, k].sum() > 0]
        if not classes:
            return probs.sum() * 0.0
        terms = []
        for k in classes:
            errors = (truth[:, k] - probs[:, k]).abs()
            order = errors.argsort(descending=True)
            terms.append(errors[order] @ lovasz_grad(truth[order, k]))
        weights = None if self.class_weights is None else self.class_weights[classes]
        return mean_over_classes(torch.stack(terms), weights)
