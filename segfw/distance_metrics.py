"""Scores of class families as a function of each pixel's distance to its deciding evidence.

A dataset that provides a per-pixel ``distance`` map (int64 (B, H, W), pixels; :data:`NO_DISTANCE` where
a pixel has no deciding evidence) and declares ``families`` (name -> class ids), ``distance_bins``
(upper edges, exclusive) and ``bin_names`` (one more name than edges: the last bin is open) is scored
per family and bin: a (K, K) confusion matrix of the pixels whose ground truth is in that family and
whose distance is in that bin.

- ``acc`` = Σ TP / Σ pixels of the family in the bin;
- ``mIoU`` = mean over the family's classes present in the bin of TP / (GT + Pred - TP), where Pred
  counts only the bin's pixels of that family predicted as the class (a false positive elsewhere in
  the image has no distance to the evidence and is not in any bin).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from segfw.constants import NO_DISTANCE


class DistanceScores:
    """``update(pred (B, H, W), target (B, H, W), distance (B, H, W))``; ``summary(class_names)``."""

    def __init__(self, num_classes: int, families: Mapping[str, Sequence[int]], edges: Sequence[int],
                 bin_names: Sequence[str], device: torch.device | str = "cpu"):
        self.num_classes, self.families = num_classes, {k: list(v) for k, v in families.items()}
        self.edges = torch.tensor(list(edges), dtype=torch.int64, device=device)
        self.bin_names = list(bin_names)
        self.counts = torch.zeros(len(self.bin_names), num_classes, num_classes, dtype=torch.int64, device=device)

    @classmethod
    def for_dataset(cls, dataset: Any, num_classes: int, device: torch.device | str) -> DistanceScores | None:
        """The scores a dataset asks for (``distance_bins``, ``bin_names``, ``families``), else None."""
        if getattr(dataset, "distance_bins", None) is None:
            return None
        return cls(num_classes, dataset.families, dataset.distance_bins, dataset.bin_names, device)

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor, distance: Tensor) -> None:
        valid = (distance != NO_DISTANCE) & (target >= 0) & (target < self.num_classes)
        bins = torch.bucketize(distance[valid], self.edges, right=True)  # edges[i-1] <= d < edges[i]
        k = self.num_classes
        index = (bins * k + target[valid]) * k + pred[valid].to(target.dtype)
        self.counts += torch.bincount(index, minlength=self.counts.numel()).view_as(self.counts)

    def all_reduce(self) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.counts)

    def summary(self, class_names: Sequence[str]) -> dict:
        """``{"distance": {family: {bin: {"acc", "mIoU", "pixels"}}}}`` in percent (None where no pixel)."""
        counts = self.counts.double().cpu()
        out: dict = {}
        for family, classes in self.families.items():
            rows = {}
            for b, name in enumerate(self.bin_names):
                m = counts[b][classes][:, classes]  # family rows; columns: predicted as one of the family
                tp, gt = m.diag(), counts[b][classes].sum(1)
                pred = m.sum(0)
                total = float(gt.sum())
                if total == 0:
                    continue
                present = gt > 0
                iou = tp[present] / (gt[present] + pred[present] - tp[present])
                rows[name] = {"acc": float(tp.sum() / total * 100), "mIoU": float(iou.mean() * 100),
                              "pixels": int(total)}
            if rows:
                out[family] = rows
        return {"distance": out}


def family_scores(summary: Mapping, families: Mapping[str, Sequence[int]], class_names: Sequence[str]) -> dict:
    """``{"family_mIoU": {family: mean per-class IoU of its classes}}`` from a summary's ``per_class`` table."""
    out = {}
    for family, classes in families.items():
        values = [summary["per_class"][class_names[c]] for c in classes if summary["per_class"][class_names[c]] is not None]
        out[family] = sum(values) / len(values) if values else None
    return {"family_mIoU": out}


def flat_scores(summary: Mapping) -> dict[str, float]:
    """``family_mIoU/<family>``, ``distance/<family>/<bin>/acc`` and ``.../mIoU`` of a summary, flat (for
    TensorBoard scalars and the HParams view); empty for a dataset without families."""
    flat = {f"family_mIoU/{k}": v for k, v in summary.get("family_mIoU", {}).items() if v is not None}
    for family, bins in summary.get("distance", {}).items():
        for name, scores in bins.items():
            flat[f"distance/{family}/{name}/acc"] = scores["acc"]
            flat[f"distance/{family}/{name}/mIoU"] = scores["mIoU"]
    return flat


def format_distance_table(summary: Mapping) -> str:
    """Accuracy per family (rows) and distance bin (columns), with the pixel counts; '' without one."""
    table = summary.get("distance")
    if not table:
        return ""
    names = list(dict.fromkeys(name for bins in table.values() for name in bins))
    lines = ["accuracy (%) by distance to the deciding evidence (pixels in brackets)",
             f"{'family':<8}" + "".join(f"{n:>20}" for n in names)]
    for family, bins in table.items():
        cells = [f"{bins[n]['acc']:6.1f} ({bins[n]['pixels']:>8})" if n in bins else "n/a" for n in names]
        lines.append(f"{family:<8}" + "".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)
