"""tools/compare.py on real runs: a tiny study (2 necks × 2 seeds) trained by tools/train.py --multirun."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from conftest import REPO
from segfw.analysis.compare import Group, Run, find_runs, group_runs, update_document, welch_interval
from segfw.errors import ConfigError

STUDY = [
    "experiment=context_study", "model/neck=identity,strip_pooling", "seed=0,1", "device=cpu",
    "dataset.num_train=4", "dataset.num_val=2", "dataset.image_size=[64,64]", "trainer.max_iters=2",
    "trainer.eval_interval=2", "trainer.batch_size=2", "trainer.crop_size=[64,64]", "trainer.num_workers=0",
    "trainer.num_vis_images=0",
]
ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("study")
    sweep = tmp / "multirun" / "tiny"
    command = [sys.executable, str(REPO / "tools" / "train.py"), "--multirun", *STUDY,
               f"dataset.cache_dir={tmp / 'cache'}", f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(command, cwd=tmp, env=ENV, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return sweep


def run_compare(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(REPO / "tools" / "compare.py"), *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_every_job_of_the_sweep_has_its_run_folder_inside_the_sweep_folder(study):
    runs = sorted(p.parent for p in study.rglob("metrics.json"))
    assert [p.name for p in runs] == ["0_identity_seed0", "1_identity_seed1", "2_strip_pooling_seed0",
                                      "3_strip_pooling_seed1"]
    for run in runs:
        costs = json.loads((run / "costs.json").read_text())
        assert costs["train_iterations"] == 2 and costs["train_time_s"] > 0 and costs["peak_memory_MiB"] > 0


@pytest.mark.slow
def test_compare_prints_the_runs_means_and_writes_md_csv_png(study, tmp_path):
    document = tmp_path / "results.md"
    document.write_text("# Results\n\nkept text\n")
    done = run_compare(str(study), "--classes", "pole", "fence", "--output", str(tmp_path / "out"),
                       "--update", str(document))
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| group")}
    assert set(rows) == {"identity", "strip_pooling"}
    for neck, row in rows.items():
        metrics = [json.loads(p.read_text()) for p in sorted(study.glob(f"*_{neck}_seed*/metrics.json"))]
        assert len(metrics) == 2 and row[0] == "2"
        for cell, values in ((row[1], [m["mIoU"] for m in metrics]),
                             (row[2], [m["per_class"]["pole"] for m in metrics]),
                             (row[3], [m["per_class"]["fence"] for m in metrics])):
            assert cell == f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"
        params = float(row[4])
        assert params > 0.01
    assert rows["identity"][-1] == "baseline"
    assert re.fullmatch(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] (within seed noise|better|worse)", rows["strip_pooling"][-1])
    assert float(rows["strip_pooling"][4]) > float(rows["identity"][4])  # the SPM adds parameters

    out = tmp_path / "out"
    table = list(csv.DictReader(io.StringIO((out / "comparison.csv").read_text())))
    identity_miou = [r for r in table if r["group"] == "identity" and r["metric"] == "mIoU"][0]
    values = [json.loads(p.read_text())["mIoU"] for p in sorted(study.glob("*_identity_seed*/metrics.json"))]
    assert float(identity_miou["mean"]) == pytest.approx(np.mean(values), abs=1e-3)
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "comparison.md").read_text() in done.stdout
    text = document.read_text()
    assert text.startswith("# Results\n\nkept text\n") and "python tools/compare.py" in text and "| identity |" in text


@pytest.mark.slow
def test_tensorboard_lists_the_swept_keys_of_the_study(study):
    """Each run writes its hparams session but no experiment summary, so TensorBoard builds the HParams
    table from all runs of the study (swept keys first) instead of one arbitrary run's columns."""
    for run in sorted(p.parent for p in study.rglob("metrics.json")):
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
        tags = acc.PluginTagToContent("hparams")
        assert hparams_metadata.EXPERIMENT_TAG not in tags
        start = hparams_metadata.parse_session_start_info_plugin_data(tags[hparams_metadata.SESSION_START_INFO_TAG])
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert start.hparams["model.neck.name"].string_value == config["model"]["neck"]["name"]
        assert start.hparams["seed"].number_value == config["seed"]
        metrics = json.loads((run / "metrics.json").read_text())
        assert acc.Scalars("hparam/mIoU")[-1].value == pytest.approx(metrics["mIoU"], abs=1e-4)


def _run(path: str, metrics: dict, **config) -> Run:
    return Run(Path(path), config, {"per_class": {}, **metrics}, {})


def test_groups_use_the_keys_that_differ_and_a_necks_own_options():
    runs = [
        _run("a", {"mIoU": 1}, **{"model.neck.name": "identity", "seed": 0, "run_dir": "a"}),
        _run("b", {"mIoU": 2}, **{"model.neck.name": "identity", "seed": 1, "run_dir": "b"}),
        _run("c", {"mIoU": 3}, **{"model.neck.name": "strip_attention", "model.neck.normalize": "softmax", "seed": 0}),
        _run("d", {"mIoU": 4}, **{"model.neck.name": "strip_attention", "model.neck.normalize": "sigmoid", "seed": 0}),
        _run("e", {"mIoU": 5}, **{"model.neck.name": "non_local", "model.neck.normalize": "softmax", "seed": 0}),
    ]
    labels = {g.label: [r.path.name for r in g.runs] for g in group_runs(runs)}
    assert labels == {"identity": ["a", "b"], "strip_attention normalize=softmax": ["c"],
                      "strip_attention normalize=sigmoid": ["d"], "non_local": ["e"]}


def test_the_group_at_the_usual_values_is_named_by_them():
    """fp32 vs bf16, three seeds each: the fp32 side is not a blank label (or 'all runs')."""
    runs = [_run(f"{amp}{seed}", {"mIoU": seed}, **{"trainer.amp": amp, "trainer.amp_dtype": dtype, "seed": seed})
            for amp, dtype in ((False, "auto"), (True, "bf16")) for seed in range(3)]
    labels = sorted(g.label for g in group_runs(runs))
    assert labels == ["amp=False amp_dtype=auto", "amp=True amp_dtype=bf16"]


def test_welch_interval_matches_scipy_and_says_when_noise():
    from scipy import stats

    a, b = np.array([40.0, 41.0, 42.5]), np.array([35.0, 36.5, 36.0])
    diff = welch_interval(a, b)
    result = stats.ttest_ind(a, b, equal_var=False)
    low, high = result.confidence_interval(0.95)
    assert (diff.low, diff.high) == pytest.approx((low, high)) and not diff.within_noise
    assert welch_interval(np.array([40.0, 44.0]), np.array([41.0, 43.5])).within_noise
    assert welch_interval(np.array([40.0]), b) is None
    assert Group("x", {}, []).values("mIoU").size == 0


def test_update_document_replaces_only_its_block(tmp_path):
    doc = tmp_path / "r.md"
    update_document(doc, "first")
    doc.write_text("intro\n" + doc.read_text() + "\nreading\n")
    update_document(doc, "second")
    assert doc.read_text() == "intro\n<!-- compare:begin -->\nsecond\n<!-- compare:end -->\n\nreading\n"


def test_missing_folder_is_one_clear_line(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "tools" / "compare.py"), str(tmp_path / "nope")], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "nope" in done.stderr
    with pytest.raises(ConfigError, match="no finished run"):
        find_runs([tmp_path])
