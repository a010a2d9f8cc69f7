import numpy as np
import pytest
import torch

from segfw.metrics import ConfusionMatrix, format_table


def reference(preds, targets, k, ignore=255):
    """Per-class IoU / acc straight from the definitions, one class at a time, float64."""
    p = np.concatenate([x.ravel() for x in preds]).astype(np.int64)
    t = np.concatenate([x.ravel() for x in targets]).astype(np.int64)
    keep = t != ignore
    p, t = p[keep], t[keep]
    ious, accs = [], []
    for c in range(k):
        tp = np.sum((p == c) & (t == c))
        fp = np.sum((p == c) & (t != c))
        fn = np.sum((p != c) & (t == c))
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else np.nan)
        accs.append(tp / (tp + fn) if tp + fn else np.nan)
    return np.array(ious), np.array(accs), np.mean(p == t)


def test_matches_reference_over_several_batches():
    rng = np.random.default_rng(0)
    k = 6
    matrix = ConfusionMatrix(k)
    preds, targets = [], []
    for _ in range(3):
        target = rng.integers(0, k - 1, (2, 13, 21))  # class k-1 never in ground truth
        target[rng.random(target.shape) < 0.1] = 255
        pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, k - 2, target.shape))
        pred[pred == 255] = 0
        matrix.update(torch.from_numpy(pred), torch.from_numpy(target))
        preds.append(pred)
        targets.append(target)
    summary = matrix.summary([f"c{i}" for i in range(k)])
    ious, accs, aacc = reference(preds, targets, k)
    assert summary["per_class"]["c5"] is None  # absent from prediction and ground truth
    for i in range(k - 1):
        assert summary["per_class"][f"c{i}"] == pytest.approx(ious[i] * 100)
    assert summary["mIoU"] == pytest.approx(np.nanmean(ious) * 100)
    assert summary["mAcc"] == pytest.approx(np.nanmean(accs) * 100)
    assert summary["aAcc"] == pytest.approx(aacc * 100)


def test_class_only_predicted_counts_with_zero_iou():
    matrix = ConfusionMatrix(3)
    matrix.update(torch.tensor([[0, 2]]), torch.tensor([[0, 0]]))
    summary = matrix.summary(["a", "b", "c"])
    assert summary["per_class"] == {"a": 50.0, "b": None, "c": 0.0}
    assert summary["mIoU"] == pytest.approx(25.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        ConfusionMatrix(3).update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 3, 2, dtype=torch.long))


def test_table_lists_classes_and_means():
    matrix = ConfusionMatrix(2)
    matrix.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
    table = format_table(matrix.summary(["road", "sky"]))
    assert "road" in table and "sky" in table and "mIoU" in table and "100.0" in table
