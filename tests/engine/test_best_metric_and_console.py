"""best.pt's metric (any metric, max or min), the smoothed loss, the confusion CSV."""

from __future__ import annotations

import csv
import io

import pytest
import torch

import segfw
from segfw.engine.best_metric import BestMetric, metric_value
from segfw.engine.console import SmoothedValue
from segfw.metrics import ConfusionMatrix, confusion_csv

SUMMARY = {"mIoU": 50.0, "mDice": 60.0, "aAcc": 90.0, "per_class": {"road": 80.0, "pole": None},
           "per_class_dice": {"road": 88.0, "pole": 10.0}}


def test_any_mean_or_class_metric_can_be_chosen():
    assert metric_value(SUMMARY, "mDice") == 60.0
    assert metric_value(SUMMARY, "per_class_dice/pole") == 10.0
    assert metric_value(SUMMARY, "per_class/pole") is None
    with pytest.raises(segfw.ConfigError, match="trainer.best_metric=mIOU .*mIoU, mDice"):
        metric_value(SUMMARY, "mIOU")


@pytest.mark.parametrize("mode,values,best,iteration", [("max", [1.0, 3.0, 2.0], 3.0, 2), ("min", [3.0, 1.0, 2.0], 1.0, 2)])
def test_best_follows_the_mode(mode, values, best, iteration):
    tracker = BestMetric("aAcc", mode)
    improved = [tracker.update({"aAcc": v}, i + 1) for i, v in enumerate(values)]
    assert improved == [True, True, False]
    assert (tracker.value, tracker.iteration) == (best, iteration)
    again = BestMetric("aAcc", mode)
    again.load_state_dict(tracker.state_dict())
    assert again.value == best and not again.update({"aAcc": values[-1]}, 9)


def test_a_missing_value_never_improves():
    tracker = BestMetric("per_class/pole")
    assert not tracker.update(SUMMARY, 1) and tracker.value is None


def test_smoothed_value_is_a_bias_corrected_average():
    smooth = SmoothedValue(beta=0.5)
    assert smooth.update(4.0) == 4.0  # no pull towards 0 at the start
    assert smooth.update(2.0) == pytest.approx((0.5 * 4 * 0.5 + 0.5 * 2) / (1 - 0.25))


def test_confusion_csv_holds_the_matrix_with_class_names():
    matrix = ConfusionMatrix(3)
    matrix.update(torch.tensor([[0, 1, 2, 2]]), torch.tensor([[0, 2, 2, 255]]))
    rows = list(csv.reader(io.StringIO(confusion_csv(matrix.matrix, ["road", "side,walk", "car"]))))
    assert rows[0][1:] == ["road", "side,walk", "car"]
    assert [r[0] for r in rows[1:]] == ["road", "side,walk", "car"]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == [[1, 0, 0], [0, 0, 0], [0, 1, 1]]
