"""Dataset-level segmentation metrics from a confusion matrix accumulated on the device."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class ConfusionMatrix:
    """K×K counts: rows are ground-truth classes, columns predictions; pixels labelled 255 are skipped.

    ``update(pred: (B, H, W) int64, target: (B, H, W) int64)``; ``all_reduce()`` sums over processes;
    ``summary(class_names)`` gives the metrics in percent.
    """

    def __init__(self, num_classes: int, device: torch.device | str = "cpu", ignore_index: int = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and ground truth {tuple(target.shape)} differ in shape")
        valid = target != self.ignore_index
        index = target[valid] * self.num_classes + pred[valid].to(target.dtype)
        counts = torch.bincount(index, minlength=self.num_classes**2)
        self.matrix += counts.view(self.num_classes, self.num_classes).to(self.matrix.device)

    def all_reduce(self) -> None:
        """Sum the matrices of every process (a no-op outside torch.distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.matrix)

    def summary(self, class_names: Sequence[str]) -> dict:
        """``{"mIoU", "mAcc", "aAcc": percent, "per_class": {name: IoU percent or None}}``.

        IoU_k = TP / (TP + FP + FN); mIoU averages over classes with a non-zero union (classes
        absent from both prediction and ground truth are left out); mAcc averages TP / (TP + FN)
        over classes present in the ground truth; aAcc = Σ TP / Σ labelled pixels.
        """
        m = self.matrix.double().cpu()
        tp = m.diag()
        gt, pred = m.sum(1), m.sum(0)
        union = gt + pred - tp
        iou = torch.where(union > 0, tp / union.clamp(min=1), torch.nan)
        acc = torch.where(gt > 0, tp / gt.clamp(min=1), torch.nan)
        total = m.sum()

        def mean(values: Tensor) -> float | None:
            finite = values[~values.isnan()]
            return float(finite.mean() * 100) if finite.numel() else None

        return {
            "mIoU": mean(iou),
            "mAcc": mean(acc),
            "aAcc": float(tp.sum() / total * 100) if total > 0 else None,
            "per_class": {name: (None if v.isnan() else float(v * 100)) for name, v in zip(class_names, iou)},
        }


def format_table(summary: dict) -> str:
    """A per-class IoU table with the overall metrics, for printing after each evaluation."""
    names = list(summary["per_class"])
    width = max([len("class"), *map(len, names)])
    lines = [f"{'class':<{width}}  IoU", "-" * (width + 8)]
    for name in names:
        value = summary["per_class"][name]
        lines.append(f"{name:<{width}}  {'  n/a' if value is None else f'{value:5.1f}'}")
    lines.append("-" * (width + 8))
    for key in ("mIoU", "mAcc", "aAcc"):
        value = summary[key]
        lines.append(f"{key:<{width}}  {'  n/a' if value is None else f'{value:5.1f}'}")
    return "\n".join(lines)
