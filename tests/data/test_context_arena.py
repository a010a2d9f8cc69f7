"""context_arena generator: evidence decides the label, family frequencies, distance maps, determinism, cache."""
from __future__ import annotations

import numpy as np
import pytest

from segfw.config import compose_config
from segfw.data.datasets.context_arena import (
    CUE_A, CUE_B, DOT_A, DOT_B, FAMILIES, FREQUENCIES, MARK_A, MARK_B, NO_DISTANCE, ArenaKnobs, draw_arena_scene)
from segfw.engine.data import build_split

SIZE = (96, 128)
CLEAN = ArenaKnobs(noise=0.0, region_radius=16, object_size=8, cue=6)


def _scene(i, knobs=CLEAN, size=SIZE):
    return draw_arena_scene(np.random.default_rng([7, i]), *size, knobs)


def _is(image, colour):
    return (image == np.array(colour, dtype=np.uint8)).all(-1)


def test_the_evidence_colour_decides_the_label_both_ways():
    seen = set()
    for i in range(6):
        image, label, _ = _scene(i)
        for row in np.unique(np.nonzero(np.isin(label, FAMILIES["row"]))[0]):
            cls = set(label[row][np.isin(label[row], FAMILIES["row"])])
            cue_a, cue_b = _is(image[row], CUE_A).any(), _is(image[row], CUE_B).any()
            assert cue_a != cue_b and cls == {FAMILIES["row"][0 if cue_a else 1]}
            seen.add(("row", cue_a))
        for col in np.unique(np.nonzero(np.isin(label, FAMILIES["column"]))[1]):
            column, pixels = image[:, col], label[:, col]
            ends = np.concatenate([column[:CLEAN.cue], column[-CLEAN.cue:]])
            cue_a, cue_b = _is(ends, CUE_A).any(), _is(ends, CUE_B).any()
            assert cue_a != cue_b and set(pixels[np.isin(pixels, FAMILIES["column"])]) == {FAMILIES["column"][0 if cue_a else 1]}
            seen.add(("column", cue_a))
        if np.isin(label, FAMILIES["global"]).any():
            dot_a = _is(image, DOT_A).any()
            assert dot_a != _is(image, DOT_B).any()
            assert set(label[np.isin(label, FAMILIES["global"])]) == {FAMILIES["global"][0 if dot_a else 1]}
            seen.add(("global", dot_a))
    assert {("row", True), ("row", False), ("column", True), ("column", False)} <= seen


def test_row_and_column_hold_both_classes_in_every_image_and_families_have_their_frequencies():
    fractions = {family: [] for family in FAMILIES}
    for i in range(40):
        _, label, _ = draw_arena_scene(np.random.default_rng([0, i]), 256, 256)
        for family, classes in FAMILIES.items():
            fractions[family].append(np.isin(label, classes).mean())
        for family in ("row", "column"):
            assert all((label == c).any() for c in FAMILIES[family]), (family, i)
    for family, expected in FREQUENCIES.items():
        assert np.mean(fractions[family]) == pytest.approx(expected, rel=0.3), family
        assert min(fractions[family]) > 0, family


def test_distance_maps_are_the_distance_to_the_deciding_evidence():
    for i in range(4):
        image, label, distance = _scene(i)
        context = np.isin(label, [c for f in ("row", "column", "global", "region") for c in FAMILIES[f]])
        assert ((distance != NO_DISTANCE) == context).all()
        cues = _is(image, CUE_A) | _is(image, CUE_B)
        for y, x in zip(*np.nonzero(np.isin(label, FAMILIES["row"]))):
            cols = np.nonzero(cues[y])[0]
            assert distance[y, x] == np.abs(cols - x).min()
        for y, x in zip(*np.nonzero(np.isin(label, FAMILIES["column"]))):
            rows = np.nonzero(cues[:, x])[0]
            assert distance[y, x] == np.abs(rows - y).min()
        for family, colours in (("global", (DOT_A, DOT_B)), ("region", (MARK_A, MARK_B))):
            evidence = np.argwhere(_is(image, colours[0]) | _is(image, colours[1]))
            for y, x in zip(*np.nonzero(np.isin(label, FAMILIES[family]))):
                nearest = np.sqrt(((evidence - (y, x)) ** 2).sum(1)).min()
                if family == "global":
                    assert distance[y, x] == np.rint(nearest)
                else:  # its own marks: no other region's marks are nearer (neighbourhoods never overlap)
                    assert distance[y, x] >= np.rint(nearest) and distance[y, x] <= 2 * CLEAN.region_radius


def test_same_seed_same_scene_and_the_dataset_is_cached(tmp_path):
    first, second = _scene(3, ArenaKnobs()), _scene(3, ArenaKnobs())
    assert all((a == b).all() for a, b in zip(first, second))
    assert not (first[0] == _scene(4, ArenaKnobs())[0]).all()
    overrides = ["dataset=context_arena", f"dataset.cache_dir={tmp_path}", "dataset.num_train=2",
                 "dataset.num_val=2", "dataset.image_size=[64,80]", "dataset.region_radius=12"]
    cfg = compose_config("train", overrides)
    val = build_split(cfg, "val")
    item = val[1]
    assert item["distance"].shape == item["mask"].shape == (64, 80)
    stamp = (val.root / "extras" / "val" / "00001.png").stat().st_mtime_ns
    again = build_split(cfg, "val")
    assert (again.root / "extras" / "val" / "00001.png").stat().st_mtime_ns == stamp
    assert (again[1]["distance"] == item["distance"]).all() and "distance" not in build_split(cfg, "train")[0]
