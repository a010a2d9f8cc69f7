"""Scores per class family and distance bin: against a direct count, and through a real training run
(metrics.json, TensorBoard scalars, the HParams session) and tools/eval's path."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from segfw.config import compose_config as compose
from segfw.apis.train import train
from segfw.constants import NO_DISTANCE
from segfw.distance_metrics import DistanceScores, flat_scores


def test_scores_equal_a_direct_count():
    rng = np.random.default_rng(0)
    k, families, edges, names = 5, {"f": [1, 2], "g": [3, 4]}, [3, 7], ["near", "mid", "far"]
    target = rng.integers(0, k, (2, 13, 21))
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, k, target.shape))
    distance = np.where(np.isin(target, [1, 2, 3, 4]), rng.integers(0, 12, target.shape), NO_DISTANCE)
    distance[0, 0, :3] = NO_DISTANCE  # a family pixel without evidence is in no bin
    scores = DistanceScores(k, families, edges, names)
    scores.update(torch.as_tensor(pred), torch.as_tensor(target), torch.as_tensor(distance))
    table = scores.summary([str(c) for c in range(k)])["distance"]
    for family, classes in families.items():
        for b, name in enumerate(names):
            lo, hi = ([0, *edges][b], [*edges, 10**9][b])
            inside = np.isin(target, classes) & (distance >= lo) & (distance < hi) & (distance != NO_DISTANCE)
            acc = (pred[inside] == target[inside]).mean() * 100
            ious = [((pred == c) & (target == c) & inside).sum()
                    / (((target == c) & inside).sum() + ((pred == c) & inside).sum() - ((pred == c) & (target == c) & inside).sum())
                    for c in classes if ((target == c) & inside).any()]
            assert table[family][name]["pixels"] == inside.sum()
            assert table[family][name]["acc"] == pytest.approx(acc)
            assert table[family][name]["mIoU"] == pytest.approx(np.mean(ious) * 100)


def test_a_training_run_reports_families_by_distance(tmp_path):
    run = tmp_path / "run"
    cfg = compose("train", [
        "experiment=context_arena", f"dataset.cache_dir={tmp_path / 'cache'}", "dataset.num_train=2", "dataset.num_val=2",
        "dataset.image_size=[64,96]", "dataset.region_radius=12", "dataset.distance_bins=[8,20,null]",
        "dataset.bin_names=[near,mid,far]", "trainer.max_iters=2", "trainer.eval_interval=2", "trainer.batch_size=2",
        "trainer.crop_size=[64,96]", "trainer.num_workers=0", "trainer.num_vis_images=0", f"run_dir={run}"])
    train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["family_mIoU"]) == {"row", "column", "global", "region", "local"}
    assert {"near", "mid", "far"} <= set(metrics["distance"]["row"])
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
    scalars = set(acc.Tags()["scalars"])
    for tag, value in flat_scores(metrics).items():
        assert f"val_{tag}" in scalars and f"hparam/{tag}" in scalars, tag
        assert acc.Scalars(f"hparam/{tag}")[-1].value == pytest.approx(value, abs=1e-4)
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")


def test_runs_of_one_seed_share_backbone_and_head_weights_across_necks():
    from segfw.models.segmentor import build_segmentor
    from omegaconf import OmegaConf

    def model(neck, seed):
        cfg = compose("train", ["experiment=context_arena", f"model/neck={neck}", f"seed={seed}"])
        return build_segmentor(OmegaConf.to_container(cfg.model, resolve=True), 11)

    a, b, c = model("identity", 3), model("strip_pooling", 3), model("identity", 4)
    for part in ("backbone", "head"):
        sa, sb, sc = (getattr(m, part).state_dict() for m in (a, b, c))
        assert all(torch.equal(sa[key], sb[key]) for key in sa), part
        assert not all(torch.equal(sa[key], sc[key]) for key in sa if sa[key].is_floating_point()), part
