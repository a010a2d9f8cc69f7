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
        """Every metric in percent, from the one matrix (see :func:`summarize`)."""
        return summarize(self.matrix, class_names)


# Per-class metrics of the summary: key of the per-class table → key of its mean.
PER_CLASS = {"per_class": "mIoU", "per_class_acc": "mAcc", "per_class_dice": "mDice", "per_class_precision": "mPrecision"}


def summarize(matrix: Tensor, class_names: Sequence[str]) -> dict:
    """Metrics of a K×K confusion matrix (rows ground truth, columns predictions), in percent.

    Per class k, with TP, FP, FN counted over all pixels:

    - IoU_k = TP / (TP + FP + FN)            → ``per_class``, mean ``mIoU``
    - Acc_k = recall_k = TP / (TP + FN)      → ``per_class_acc``, mean ``mAcc``
    - Dice_k = F1_k = 2TP / (2TP + FP + FN)  → ``per_class_dice``, mean ``mDice``
    - precision_k = TP / (TP + FP)           → ``per_class_precision``, mean ``mPrecision``

    A metric whose denominator is 0 is None for that class and left out of the mean (IoU/Dice: class
    absent from prediction and ground truth; Acc: absent from the ground truth; precision: never
    predicted). ``aAcc`` = Σ TP / Σ labelled pixels (overall pixel accuracy).
    """
    m = matrix.double().cpu()
    tp = m.diag()
    gt, pred = m.sum(1), m.sum(0)
    per_class = {
        "per_class": _ratio(tp, gt + pred - tp),
        "per_class_acc": _ratio(tp, gt),
        "per_class_dice": _ratio(2 * tp, gt + pred),
        "per_class_precision": _ratio(tp, pred),
    }
    total = m.sum()
    out: dict = {mean_key: _mean(per_class[key]) for key, mean_key in PER_CLASS.items()}
    out["aAcc"] = float(tp.sum() / total * 100) if total > 0 else None
    for key, values in per_class.items():
        out[key] = {name: (None if v.isnan() else float(v * 100)) for name, v in zip(class_names, values)}
    return out


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1), torch.nan)


def _mean(values: Tensor) -> float | None:
    finite = values[~values.isnan()]
    return float(finite.mean() * 100) if finite.numel() else None


def format_table(summary: dict) -> str:
    """Per-class IoU, accuracy (recall), Dice (F1) and precision with their means, printed after each evaluation."""
    names = list(summary["per_class"])
    width = max([len("class"), *map(len, names)])
    columns = [("IoU", "per_class", "mIoU"), ("Acc", "per_class_acc", "mAcc"),
               ("Dice", "per_class_dice", "mDice"), ("Prec", "per_class_precision", "mPrecision")]
    columns = [c for c in columns if c[1] in summary]

    def cell(value: float | None) -> str:
        return "  n/a" if value is None else f"{value:5.1f}"

    lines = [f"{'class':<{width}}" + "".join(f"  {title:>5}" for title, _, _ in columns)]
    lines.append("-" * len(lines[0]))
    for name in names:
        lines.append(f"{name:<{width}}" + "".join(f"  {cell(summary[key][name])}" for _, key, _ in columns))
    lines.append("-" * len(lines[0]))
    lines.append(f"{'mean':<{width}}" + "".join(f"  {cell(summary[mean])}" for _, _, mean in columns))
    lines.append("  ".join(f"{key} {cell(summary[key]).strip()}" for key in (*(c[2] for c in columns), "aAcc")))
    return "\n".join(lines)


def confusion_csv(matrix: Tensor, class_names: Sequence[str]) -> str:
    """The K×K pixel counts as CSV: a header row of predicted classes, one row per ground-truth class."""
    counts = matrix.cpu().tolist()
    rows = [",".join(["ground_truth \\ predicted", *map(_csv_cell, class_names)])]
    rows += [",".join([_csv_cell(name), *map(str, row)]) for name, row in zip(class_names, counts)]
    return "\n".join(rows) + "\n"


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text
