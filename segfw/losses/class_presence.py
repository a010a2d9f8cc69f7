"""Which classes an image contains, as a multi-label loss (EncNet's semantic encoding loss, "SE loss")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.losses.pixels import full_precision
from segfw.registry import LOSSES


def presence(target: Tensor, num_classes: int) -> Tensor:
    """``target (B, H, W)`` int64 → ``(B, K)`` float: 1 where class k labels at least one pixel of the
    image. Values outside [0, K) (the ignore index) count for no class."""
    labels = target.flatten(1)
    valid = (labels >= 0) & (labels < num_classes)
    hits = torch.zeros(labels.shape[0], num_classes + 1, device=target.device)
    hits.scatter_(1, torch.where(valid, labels, num_classes), 1.0)
    return hits[:, :num_classes]


@LOSSES.register("class_presence")
class ClassPresenceLoss(nn.Module):
    """Binary cross-entropy of image-level logits against the classes present in the mask.

    ``forward(logits: (B, K) or (B, K, 1, 1), target: (B, H, W) int64) -> scalar``::

        loss = mean over b, k of BCE(z_bk, [class k labels a pixel of image b])

    (pixels labelled ``ignore_index`` count for no class). EncNet's SE loss, as mmseg's
    ``CrossEntropyLoss(use_sigmoid=True)`` on ``EncHead._convert_to_onehot_labels``. An image-level
    loss (``image_level = True``): the segmentor hands it the head's logits as they are, not
    upsampled to the mask; use it for a side head (``side_heads.<name>.loss``), not as a model's loss.
    """

    image_level = True

    def __init__(self, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits = full_precision(logits.flatten(1))
        truth = presence(target.masked_fill(target == self.ignore_index, -1), logits.shape[1])
        return F.binary_cross_entropy_with_logits(logits, truth.to(logits.dtype))
