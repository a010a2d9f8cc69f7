"""Dataset-level segmentation metrics from a confusion matrix accumulated on the device."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from segfw.constants import IGNORE_INDEX
from segfw.registry import METRICS


class ConfusionMatrix:
    """K×K counts: rows are ground-truth classes, columns predictions; pixels labelled ``ignore_index`` are skipped.

    ``update(pred: (B, H, W) int64, target: (B, H, W) int64)``; ``all_reduce()`` sums over processes;
    ``summary(class_names)`` gives the metrics in percent.
    """

    def __init__(self, num_classes: int, device: torch.device | str = "cpu", ignore_index: int = IGNORE_INDEX):
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


class ClassMetric:
    """A per-class metric of the confusion matrix, registered in ``METRICS``: ``metric(tp, gt, pred)`` → (K,)
    ratios (nan where undefined) from true positives, ground-truth and predicted pixel counts per class.

    ``key`` names its per-class table in the summary, ``mean`` the mean over classes, ``title`` its column.
    """

    def __init__(self, fn: Callable[[Tensor, Tensor, Tensor], Tensor], key: str, mean: str, title: str):
        self.fn, self.key, self.mean, self.title = fn, key, mean, title
        self.__doc__ = fn.__doc__

    def __call__(self, tp: Tensor, gt: Tensor, pred: Tensor) -> Tensor:
        return self.fn(tp, gt, pred)


def class_metric(name: str, key: str, mean: str, title: str):
    """Decorator registering ``fn(tp, gt, pred) -> (K,)`` as the metric ``name`` (see :class:`ClassMetric`)."""

    def decorate(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
        METRICS.register(name)(ClassMetric(fn, key, mean, title))
        return fn

    return decorate


@class_metric("iou", key="per_class", mean="mIoU", title="IoU")
def iou(tp: Tensor, gt: Tensor, pred: Tensor) -> Tensor:
    """Intersection over union TP / (TP + FP + FN); undefined for a class absent from prediction and ground truth."""
    return _ratio(tp, gt + pred - tp)


@class_metric("accuracy", key="per_class_acc", mean="mAcc", title="Acc")
def accuracy(tp: Tensor, gt: Tensor, pred: Tensor) -> Tensor:
    """Per-class accuracy = recall TP / (TP + FN); undefined for a class absent from the ground truth."""
    return _ratio(tp, gt)


@class_metric("dice", key="per_class_dice", mean="mDice", title="Dice")
def dice(tp: Tensor, gt: Tensor, pred: Tensor) -> Tensor:
    """Dice = F1 2TP / (2TP + FP + FN); undefined for a class absent from prediction and ground truth."""
    return _ratio(2 * tp, gt + pred)


@class_metric("precision", key="per_class_precision", mean="mPrecision", title="Prec")
def precision(tp: Tensor, gt: Tensor, pred: Tensor) -> Tensor:
    """Precision TP / (TP + FP); undefined for a class never predicted."""
    return _ratio(tp, pred)


def summarize(matrix: Tensor, class_names: Sequence[str]) -> dict:
    """Every registered metric (``METRICS``) of a K×K confusion matrix (rows ground truth, columns
    predictions), in percent: its per-class table and its mean over the classes where it is defined
    (IoU: ``per_class``, ``mIoU``; accuracy = recall: ``per_class_acc``, ``mAcc``; Dice = F1:
    ``per_class_dice``, ``mDice``; precision: ``per_class_precision``, ``mPrecision``), and ``aAcc`` =
    Σ TP / Σ labelled pixels (overall pixel accuracy).
    """
    m = matrix.double().cpu()
    tp = m.diag()
    gt, pred = m.sum(1), m.sum(0)
    per_class = {metric.key: (metric, metric(tp, gt, pred)) for _, metric in METRICS.items()}
    total = m.sum()
    out: dict = {metric.mean: _mean(values) for metric, values in per_class.values()}
    out["aAcc"] = float(tp.sum() / total * 100) if total > 0 else None
    for key, (_, values) in per_class.items():
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
    columns = [(m.title, m.key, m.mean) for _, m in METRICS.items() if m.key in summary]

    def cell(value: float | None) -> str:
        return "  n/a" if value is None else f"{value:5.1f}"

    lines = [f"{'class':<{width}}" + "".join(f"  {title:>5}" for title, _, _ in columns)]
    lines.append("-" * len(lines[0]))
    for name in names:
        lines.append(f"{name:<{width}}" + "".join(f"  {cell(summary[key][name])}" for _, key, _ in columns))
    lines.append("-" * len(lines[0]))
    lines.append(f"{'mean':<{width}}" + "".join(f"  {cell(summary[mean])}" for _, _, mean in columns))
    lines.append(format_means(summary))
    return "\n".join(lines)


def format_means(summary: dict) -> str:
    """One line of the mean metrics and aAcc: ``mIoU 41.2  mAcc 52.0  mDice 55.1  mPrecision 60.3  aAcc 80.4``."""
    means = [m.mean for _, m in METRICS.items() if m.key in summary]
    return "  ".join(f"{key} {'n/a' if summary[key] is None else f'{summary[key]:.1f}'}" for key in (*means, "aAcc"))


def confusion_csv(matrix: Tensor, class_names: Sequence[str]) -> str:
    """The K×K pixel counts as CSV: a header row of predicted classes, one row per ground-truth class."""
    counts = matrix.cpu().tolist()
    rows = [",".join(["ground_truth \\ predicted", *map(_csv_cell, class_names)])]
    rows += [",".join([_csv_cell(name), *map(str, row)]) for name, row in zip(class_names, counts)]
    return "\n".join(rows) + "\n"


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text
