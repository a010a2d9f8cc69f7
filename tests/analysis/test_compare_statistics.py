"""tools/compare.py's paired statistics and accuracy-vs-distance figure on synthetic run folders
(config.yaml + metrics.json as the trainer writes them), checked against scipy directly."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from scipy import stats

from segfw.analysis.arena_report import family_metrics
from segfw.analysis.compare import by_seed, compare
from segfw.analysis.compare_tool import run_compare
from segfw.analysis.paired_stats import noise_floor, paired
from segfw.cli import override_problem

SEEDS = [0, 1, 2, 3, 4]
BINS = ["lt_erf50", "lt_erf90", "lt_rf", "beyond_rf"]


def _far(neck, seed):
    base = [61.0, 55.0, 58.0, 52.0, 60.0][seed]  # what a seed gives every neck (shared data order and init)
    return base + {"identity": 0.0, "strip_pooling": 9.0 + 0.5 * seed}[neck]


def _write_runs(root):
    for neck in ("identity", "strip_pooling"):
        for seed in SEEDS:
            run = root / f"{neck}_seed{seed}"
            run.mkdir(parents=True)
            config = {"seed": seed, "model": {"neck": {"name": neck}},
                      "dataset": {"name": "context_arena", "distance_bins": [23, 65, 136, None], "bin_names": BINS}}
            (run / "config.yaml").write_text(yaml.safe_dump(config))
            distance = {family: {b: {"acc": _far(neck, seed) + 10 * (3 - i), "mIoU": 40.0, "pixels": 100}
                                 for i, b in enumerate(BINS)} for family in ("row", "column")}
            metrics = {"mIoU": 50.0 + seed, "mAcc": 60.0, "aAcc": 90.0, "per_class": {"background": 90.0, "row_a": 10.0},
                       "family_mIoU": {"row": 30.0, "local": 95.0 - seed * 0.1}, "distance": distance}
            (run / "metrics.json").write_text(json.dumps(metrics))
    return root


def test_paired_delta_interval_mde_and_noise_floor_equal_a_direct_computation(tmp_path):
    cmp = compare([_write_runs(tmp_path / "runs")], costs=False)
    identity, pooled = (next(g for g in cmp.groups if g.label == label) for label in ("identity", "strip_pooling"))
    metric = "distance/row/beyond_rf/acc"
    assert metric in family_metrics(cmp) and "family_mIoU/local" in family_metrics(cmp)
    a = np.array([_far("strip_pooling", s) for s in SEEDS])
    b = np.array([_far("identity", s) for s in SEEDS])
    result = paired(by_seed(pooled, metric), by_seed(identity, metric))
    direct = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert result.n == 5 and result.delta == pytest.approx((a - b).mean())
    assert (result.low, result.high) == (pytest.approx(direct.low), pytest.approx(direct.high))
    sd = (a - b).std(ddof=1)
    assert result.mde == pytest.approx((stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) * sd / np.sqrt(5))
    assert result.resolved  # +10 with a spread of 0.8: the interval excludes 0 (Welch would not: seeds spread 9)
    floor = noise_floor(by_seed(identity, metric))
    d = np.array([b[0] - b[2], b[1] - b[3]])
    assert floor.n == 2 and floor.delta == pytest.approx(d.mean())
    assert floor.high - floor.delta == pytest.approx(stats.t.ppf(0.975, 1) * d.std(ddof=1) / np.sqrt(2))


def test_the_tool_writes_the_paired_table_and_the_figure(tmp_path):
    runs = _write_runs(tmp_path / "runs")
    rf = tmp_path / "rf.json"
    rf.write_text(json.dumps({"rf_rows": 271, "rf_cols": 271, "erf50_rows": 23, "erf50_cols": 23,
                              "erf90_rows": 65, "erf90_cols": 64}))
    paths = run_compare({"runs": [str(runs)], "costs": False, "output": str(tmp_path / "out"),
                         "receptive_field": str(rf)}, "python tools/compare.py ...")
    table = paths["paired"].read_text()
    assert "| distance/row/beyond_rf/acc | identity vs identity (other seeds) |" in table
    assert "| distance/row/beyond_rf/acc | strip_pooling |" in table and "better" in table
    assert paths["figure"].read_bytes()[:4] == b"\x89PNG"
    # the key=value dialect composes against the tool's schema (the subprocess costs too much test time)
    assert override_problem("compare", [f"runs=[{runs}]", "costs=false", "metrics=[distance/column/beyond_rf/acc]",
                                        f"receptive_field={rf}", "baseline=identity"]) is None
