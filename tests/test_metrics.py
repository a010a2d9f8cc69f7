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


def test_dice_precision_recall_match_their_definitions():
    """Per-class Dice/F1, precision and accuracy (= recall) from TP/FP/FN counted pixel by pixel, float64."""
    rng = np.random.default_rng(1)
    k = 5
    target = rng.integers(0, k - 1, (3, 11, 17))  # class k-1 never labelled
    target[rng.random(target.shape) < 0.1] = 255
    pred = np.where(rng.random(target.shape) < 0.5, target, rng.integers(0, k - 1, target.shape))
    pred[pred == 255] = 1
    matrix = ConfusionMatrix(k)
    matrix.update(torch.from_numpy(pred), torch.from_numpy(target))
    summary = matrix.summary([f"c{i}" for i in range(k)])
    keep = target != 255
    p, t = pred[keep], target[keep]
    dices, precisions, recalls = [], [], []
    for c in range(k):
        tp, fp, fn = np.sum((p == c) & (t == c)), np.sum((p == c) & (t != c)), np.sum((p != c) & (t == c))
        dice = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = None if not precision or not recall else 2 * precision * recall / (precision + recall)
        for values, value, key in ((dices, dice, "per_class_dice"), (precisions, precision, "per_class_precision"),
                                   (recalls, recall, "per_class_acc")):
            got = summary[key][f"c{c}"]
            assert (got is None) == (value is None), (key, c)
            if value is not None:
                assert got == pytest.approx(value * 100)
                values.append(value)
        if f1 is not None:
            assert summary["per_class_dice"][f"c{c}"] == pytest.approx(f1 * 100)  # Dice is F1
    assert summary["per_class_acc"]["c4"] is None and summary["per_class_precision"]["c4"] is None  # never labelled/predicted
    assert summary["mDice"] == pytest.approx(np.mean(dices) * 100)
    assert summary["mPrecision"] == pytest.approx(np.mean(precisions) * 100)
    assert summary["mAcc"] == pytest.approx(np.mean(recalls) * 100)
    table = format_table(summary)
    assert "Dice" in table and "Prec" in table and "mDice" in table
