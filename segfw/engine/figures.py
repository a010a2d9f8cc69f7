"""Matplotlib figures for TensorBoard: confusion matrix and per-class IoU."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def confusion_figure(matrix: torch.Tensor, class_names: Sequence[str]):
    """Row-normalised confusion matrix (rows: ground truth, columns: prediction)."""
    counts = matrix.double()
    normalised = (counts / counts.sum(1, keepdim=True).clamp(min=1)).numpy()
    size = min(2 + 0.35 * len(class_names), 24)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(normalised, vmin=0, vmax=1, cmap="viridis")
    ticks = range(len(class_names))
    font = 7 if len(class_names) <= 60 else 4
    axis.set_xticks(ticks, class_names, rotation=90, fontsize=font)
    axis.set_yticks(ticks, class_names, fontsize=font)
    axis.set_xlabel("prediction")
    axis.set_ylabel("ground truth")
    figure.tight_layout()
    return figure


def iou_bar_figure(summary: Mapping):
    """Horizontal bars of per-class IoU (percent); undefined classes are left empty."""
    names = list(summary["per_class"])
    values = [v if v is not None else 0.0 for v in summary["per_class"].values()]
    figure, axis = plt.subplots(figsize=(6, 1 + 0.25 * len(names)))
    axis.barh(range(len(names)), values, color="tab:blue")
    axis.set_yticks(range(len(names)), names, fontsize=7)
    axis.invert_yaxis()
    axis.set_xlim(0, 100)
    axis.set_xlabel(f"IoU (%)   mIoU = {summary['mIoU'] or 0:.1f}")
    figure.tight_layout()
    return figure
