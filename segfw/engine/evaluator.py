"""Dataset-level evaluation with the configured inference protocol (whole / slide, scales, flip)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from segfw.data.loader import SkippedSamples
from segfw.engine.device import autocast
from segfw.engine.distributed import is_main_process
from segfw.distance_metrics import DistanceScores, family_scores
from segfw.metrics import ConfusionMatrix
from segfw.models.inference import WINDOW_BATCH
from segfw.models.layers import resize
from segfw.visualize import to_uint8_image


@dataclass
class EvalResult:
    summary: dict
    confusion: Tensor  # (K, K) int64, rows = ground truth
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # (image, gt, pred)


@torch.no_grad()
def predict_batch(model, images: Tensor, size: Sequence[int], test: Mapping[str, Any],
                  amp_dtype: torch.dtype | None = None) -> Tensor:
    """Labels (B, *size) int64 for images (B, 3, h, w), probabilities resized to the label size first."""
    with autocast(images.device, amp_dtype):
        probs = model.predict(images, mode=test["mode"], scales=list(test["scales"]), flip=bool(test["flip"]),
                              crop_size=test.get("crop_size"), stride=test.get("stride"),
                              window_batch=test.get("window_batch", WINDOW_BATCH))
    return model.class_ids(resize(probs.float(), size))


@torch.no_grad()
def evaluate(model, loader, class_names: Sequence[str], device: torch.device, test: Mapping[str, Any],
             amp_dtype: torch.dtype | None = None, num_samples: int = 0,
             on_prediction=None) -> EvalResult:
    """Accumulate a confusion matrix over ``loader`` (all-reduced across processes) and summarise it.

    ``loader`` yields lists of same-size batches (:func:`segfw.engine.data.build_eval_loader`) of a dataset
    whose ``ignore_index`` marks the pixels left out of the matrix; each
    batch runs in one forward pass (slide mode: ``test.window_batch`` crops per pass), and the matrix
    stays on ``device`` until the end.

    Ground truth stays at its original resolution: predictions are resized to each mask before
    scoring. ``on_prediction(pred (H, W) int64, batch, i)`` is called per image when given (e.g.
    to write prediction files). The first ``num_samples`` images are returned for visualisation.
    A dataset with class families and distance maps (:mod:`segfw.distance_metrics`) adds ``family_mIoU``
    and ``distance`` (per family and distance bin) to the summary.
    """
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(len(class_names), device, loader.dataset.ignore_index)
    by_distance = DistanceScores.for_dataset(loader.dataset, len(class_names), device)
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    skipped = SkippedSamples()
    bar = tqdm(desc="eval", total=len(loader.sampler), unit="img", leave=False, disable=not is_main_process(),
               dynamic_ncols=True)  # counts this rank's images, whatever the batching
    batches = (batch for same_size_batches in loader for batch in same_size_batches)
    for batch in skipped.filter(batches):
        images = batch["image"].to(device, non_blocking=True)
        masks = batch["mask"].to(device, non_blocking=True)
        preds = predict_batch(model, images, masks.shape[-2:], test, amp_dtype)
        matrix.update(preds, masks)
        if by_distance is not None and "distance" in batch:
            by_distance.update(preds, masks, batch["distance"].to(device, non_blocking=True))
        bar.update(preds.shape[0])
        for i in range(preds.shape[0]):
            if on_prediction is not None:
                on_prediction(preds[i], batch, i)
            if len(samples) < num_samples:
                image = resize(images[i : i + 1].float(), masks.shape[-2:])
                samples.append((to_uint8_image(image[0].float()), masks[i].cpu().numpy(), preds[i].cpu().numpy()))
    bar.refresh()  # show the final count even when the last update fell inside tqdm's mininterval
    bar.close()
    matrix.all_reduce()
    if len(skipped) and is_main_process():
        print(skipped.summary())
    model.train(was_training)
    summary = matrix.summary(class_names)
    if by_distance is not None:  # a dataset with class families and distance maps (context_arena)
        by_distance.all_reduce()
        summary.update(family_scores(summary, loader.dataset.families, class_names), **by_distance.summary(class_names))
    return EvalResult(summary, matrix.matrix.cpu(), samples)
