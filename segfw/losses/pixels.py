"""Shared step of the pixel losses: keep the labelled pixels as rows."""

from __future__ import annotations

import torch
from torch import Tensor


def full_precision(x: Tensor) -> Tensor:
    """Half-precision (AMP) logits as float32; float32/float64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def labelled_pixels(logits: Tensor, target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """``logits (B, K, H, W)``, ``target (B, H, W)`` → ``(N, K)`` logits and ``(N,)`` targets of the
    N pixels whose label is not ``ignore_index``."""
    rows = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
    labels = target.reshape(-1)
    keep = labels != ignore_index
    return rows[keep], labels[keep]


def class_probabilities(logits: Tensor) -> Tensor:
    """``(N, K)`` logits → ``(N, K)`` class probabilities: softmax, or for K = 1 (binary mode) the
    sigmoid as the foreground's probability."""
    return logits.sigmoid() if logits.shape[1] == 1 else logits.softmax(1)


def probabilities_and_one_hot(logits: Tensor, target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """``logits (B, K, H, W)``, ``target (B, H, W)`` → ``(N, K)`` class probabilities (full precision) and
    ``(N, K)`` one-hot labels of the N labelled pixels: the common start of the region losses."""
    rows, labels = labelled_pixels(logits, target, ignore_index)
    probs = class_probabilities(full_precision(rows))
    return probs, one_hot_rows(labels, rows.shape[1], probs.dtype)


def class_weight_buffer(module, class_weights) -> None:
    """Register ``class_weights`` (length K, or None) as the non-persistent buffer ``class_weights``."""
    weight = None if class_weights is None else torch.as_tensor(list(class_weights), dtype=torch.float32)
    module.register_buffer("class_weights", weight, persistent=False)


def mean_over_classes(values: Tensor, class_weights: Tensor | None) -> Tensor:
    """``(K,)`` per-class values → their mean, weighted by ``class_weights`` when given."""
    if class_weights is None:
        return values.mean()
    weights = class_weights.to(values)
    return (values * weights).sum() / weights.sum()


def one_hot_rows(labels: Tensor, num_classes: int, dtype) -> Tensor:
    """``(N,)`` class ids → ``(N, K)`` one-hot; for K = 1 (binary mode) the column is ``label == 1``."""
    if num_classes == 1:
        return (labels == 1).to(dtype)[:, None]
    return (labels[:, None] == labels.new_tensor(range(num_classes))[None]).to(dtype)
