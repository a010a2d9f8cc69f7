"""The context benchmark: deterministic scenes with the documented thin-class frequencies, and its study protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from segfw.data.datasets.context_bench import FREQUENCIES, ContextBench, SceneKnobs, class_frequencies, draw_context_scene
from segfw.data.datasets.synthetic import CLASSES
from segfw.models.segmentor import build_segmentor


def test_thin_classes_appear_at_the_documented_frequencies():
    # Pixel fractions do not depend on the scene size (bars scale with the width): 48 small scenes suffice.
    labels = [draw_context_scene(np.random.default_rng([0, i]), 128, 128)[1] for i in range(48)]
    measured = class_frequencies(labels)
    for name, expected in FREQUENCIES.items():
        assert measured[name]["pixels"] == pytest.approx(expected["pixels"], rel=0.3), name
        assert measured[name]["images"] >= expected["images"] - 0.05, name
    assert all(measured[name]["images"] == 1.0 for name in ("sky", "building", "road", "sidewalk"))


def test_thin_structures_share_one_paint_whatever_their_class():
    """A pole is locally the same paint as a drainpipe (labelled building): the ambiguity is real."""
    image, label = draw_context_scene(np.random.default_rng([0, 3]), 256, 256, SceneKnobs(occluders=(0, 0)))
    pole = image[label == CLASSES.index("pole")].astype(float).mean(0)
    building = image[label == CLASSES.index("building")].astype(float)
    close = np.abs(building - pole).max(1) < 20  # drainpipes and ledges: the pole's paint inside facades
    assert close.sum() > 100


def test_scenes_are_deterministic_and_knobs_change_them():
    a = draw_context_scene(np.random.default_rng([7, 1]), 64, 96)
    b = draw_context_scene(np.random.default_rng([7, 1]), 64, 96)
    assert a[0].shape == (64, 96, 3) and a[1].shape == (64, 96)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    none = draw_context_scene(np.random.default_rng([7, 1]), 64, 96, SceneKnobs(poles=(0, 0)))[1]
    assert not (none == CLASSES.index("pole")).any()


def test_dataset_is_generated_once_in_the_cache(tmp_path):
    first = ContextBench("val", num_train=2, num_val=3, image_size=(32, 48), cache_dir=str(tmp_path), poles=(1, 1))
    assert len(first) == 3 and first.classes == CLASSES
    folder = next(tmp_path.iterdir())
    stamp = folder.stat().st_mtime_ns
    again = ContextBench("val", num_train=2, num_val=3, image_size=(32, 48), cache_dir=str(tmp_path), poles=(1, 1))
    assert len(again) == 3 and folder.stat().st_mtime_ns == stamp and len(list(tmp_path.iterdir())) == 1
    ContextBench("val", num_train=2, num_val=3, image_size=(32, 48), cache_dir=str(tmp_path), poles=(2, 2))
    assert len(list(tmp_path.iterdir())) == 2  # every knob is part of the cache folder's name


def test_study_protocol_keeps_c5_maps_at_least_32x32(compose):
    cfg = compose("train", ["experiment=context_study"])
    assert cfg.dataset.name == "context_bench" and cfg.model.backbone.name == "lite_resnet"
    model = build_segmentor(OmegaConf.to_container(cfg.model, resolve=True), num_classes=len(CLASSES))
    height, width = cfg.dataset.image_size
    assert list(cfg.trainer.crop_size) == [height, width]  # whole scenes: context stays in view
    feats = model.backbone(torch.zeros(1, 3, height, width))
    assert feats["c5"].shape[-2] >= 32 and feats["c5"].shape[-1] >= 32
