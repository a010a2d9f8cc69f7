"""Protocol transforms (crop with cat_max_ratio, photometric distortion, keep-ratio resizes) and the recipe builder."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from segfw.data.transforms import (
    CatMaxRatioCrop,
    KeepMask,
    PhotoMetricDistortion,
    RandomRescale,
    RescaleKeepRatio,
    build_transforms,
)
from segfw.errors import ConfigError


def balanced(crop: np.ndarray, ratio: float) -> bool:
    """The acceptance rule, from its definition: >= 2 classes, the largest < ratio of the non-ignored pixels."""
    values, counts = np.unique(crop[crop != 255], return_counts=True)
    return len(values) >= 2 and counts.max() < ratio * counts.sum()


def coordinate_image(height: int, width: int) -> np.ndarray:
    """Pixels that encode their own position (row, col, 0), so a crop reveals where it was taken."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def test_cat_max_ratio_crops_are_balanced_as_often_as_ten_tries_allow():
    height, width, crop, ratio = 40, 44, 12, 0.75
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[26:, 30:] = 1  # a small second class in one corner
    mask[:, :3] = 255  # an ignored margin
    positions = [(top, left) for top in range(height - crop + 1) for left in range(width - crop + 1)]
    q = np.mean([balanced(mask[t : t + crop, x : x + crop], ratio) for t, x in positions])
    assert 0.05 < q < 0.3  # rare enough that retrying matters

    transform = CatMaxRatioCrop(crop, crop, cat_max_ratio=ratio)
    transform.set_random_seed(0)
    image, trials, hits = coordinate_image(height, width), 600, 0
    for _ in range(trials):
        out = transform(image=image, mask=mask)
        top, left = int(out["image"][0, 0, 0]), int(out["image"][0, 0, 1])
        np.testing.assert_array_equal(out["image"], image[top : top + crop, left : left + crop])
        np.testing.assert_array_equal(out["mask"], mask[top : top + crop, left : left + crop])
        hits += balanced(out["mask"], ratio)
    expected = 1 - (1 - q) ** 10
    sigma = np.sqrt(expected * (1 - expected) / trials)
    assert abs(hits / trials - expected) < 4 * sigma, (hits / trials, expected)


def test_cat_max_ratio_one_is_a_uniform_random_crop():
    mask = np.zeros((20, 20), dtype=np.uint8)
    transform = CatMaxRatioCrop(5, 5, cat_max_ratio=1.0)
    transform.set_random_seed(1)
    corners = {tuple(transform(image=coordinate_image(20, 20), mask=mask)["image"][0, 0, :2]) for _ in range(2000)}
    assert len(corners) > 0.95 * 16 * 16  # nearly every one of the 16x16 positions is drawn


def test_crop_larger_than_image_keeps_the_image_size():
    out = CatMaxRatioCrop(30, 8, cat_max_ratio=0.75)(image=coordinate_image(13, 21), mask=np.zeros((13, 21), np.uint8))
    assert out["image"].shape == (13, 8, 3) and out["mask"].shape == (13, 8)


def test_photometric_parameters_follow_the_protocol():
    transform = PhotoMetricDistortion()
    transform.set_random_seed(0)
    draws = [transform.get_params() for _ in range(4000)]
    for key, low, high in (("brightness", -32, 32), ("contrast", 0.5, 1.5), ("saturation", 0.5, 1.5), ("hue", -18, 18)):
        values = np.array([d[key] for d in draws if d[key] is not None])
        assert abs(len(values) / len(draws) - 0.5) < 0.04, key  # each applied with p = 0.5
        assert low <= values.min() and values.max() <= high and values.min() < low + 2 and values.max() > high - 2, key
    hues = {d["hue"] for d in draws if d["hue"] is not None}
    assert hues == set(range(-18, 19))
    assert abs(np.mean([d["contrast_first"] for d in draws]) - 0.5) < 0.04


def test_photometric_brightness_and_contrast_follow_their_formula():
    image = np.random.default_rng(0).integers(0, 256, (13, 21, 3), dtype=np.uint8)
    transform = PhotoMetricDistortion()
    none = {"brightness": None, "contrast_first": True, "contrast": None, "saturation": None, "hue": None}
    np.testing.assert_array_equal(transform.apply(image, **none), image)
    bright = transform.apply(image, **{**none, "brightness": 20.5})
    np.testing.assert_array_equal(bright, np.clip(image.astype(np.float64) + 20.5, 0, 255).astype(np.uint8))
    contrast = transform.apply(image, **{**none, "contrast": 1.3})  # float32 arithmetic, as mmseg: off by <= 1
    reference = np.clip(image.astype(np.float64) * 1.3, 0, 255).astype(np.uint8)
    assert np.abs(contrast.astype(int) - reference).max() <= 1 and np.mean(contrast == reference) > 0.95
    grey = np.full((5, 5, 3), 90, np.uint8)  # no saturation: hue and saturation leave grey alone
    np.testing.assert_array_equal(transform.apply(grey, **{**none, "saturation": 1.4, "hue": 9}), grey)


@pytest.mark.parametrize("shape", [(13, 21), (21, 13), (600, 300)])
def test_rescale_keeps_ratio_and_fits_the_scale(shape):
    image, mask = np.zeros((*shape, 3), np.uint8), np.arange(shape[0] * shape[1]).reshape(shape).astype(np.uint8) % 7
    out = RescaleKeepRatio(scale=(2048, 512))(image=image, mask=mask)
    h, w = out["image"].shape[:2]
    assert out["mask"].shape == (h, w)
    assert max(h, w) <= 2048 and min(h, w) <= 512 and (max(h, w) >= 2047 or min(h, w) >= 511)
    assert abs(h / w - shape[0] / shape[1]) < 0.1 * shape[0] / shape[1]
    assert set(np.unique(out["mask"])) <= set(np.unique(mask))  # nearest: no invented ids


def test_random_rescale_spans_the_ratio_range():
    transform = RandomRescale(scale=(200, 100), ratio_range=(0.5, 2.0))
    transform.set_random_seed(0)
    image, mask = np.zeros((10, 20, 3), np.uint8), np.zeros((10, 20), np.uint8)
    short_sides = [transform(image=image, mask=mask)["image"].shape[0] for _ in range(300)]
    assert 50 <= min(short_sides) < 55 and 190 < max(short_sides) <= 200  # 100 x U(0.5, 2.0) on the short side


def recipe_config(compose, name: str, crop: str = "[24,40]"):
    return compose("train", [f"augment={name}", f"trainer.crop_size={crop}"])


@pytest.mark.parametrize(
    "name", ["default", "ade20k", "cityscapes_512x1024", "cityscapes_769x769", "pascal_context", "pascal_voc"]
)
def test_every_recipe_builds_and_yields_the_crop(compose, name):
    cfg = recipe_config(compose, name)
    train, val = build_transforms(cfg.augment, "train"), build_transforms(cfg.augment, "val")
    rng = np.random.default_rng(0)
    image, mask = rng.integers(0, 256, (31, 45, 3), dtype=np.uint8), rng.integers(0, 5, (31, 45), dtype=np.uint8)
    for _ in range(3):
        out = train(image=image, mask=mask)
        assert tuple(out["image"].shape) == (3, 24, 40) and tuple(out["mask"].shape) == (24, 40)
        assert out["image"].dtype.is_floating_point
        assert set(np.unique(out["mask"].numpy())) <= set(range(5)) | {255}
    out = val(image=image, mask=mask)
    assert isinstance(val, KeepMask) and out["mask"] is mask and out["image"].shape[0] == 3


def test_recipes_take_the_protocol_scales(compose):
    scales = {
        name: tuple(recipe_config(compose, name).augment.scale)
        for name in ("ade20k", "cityscapes_512x1024", "cityscapes_769x769", "pascal_context", "pascal_voc")
    }
    assert scales == {
        "ade20k": (2048, 512),
        "cityscapes_512x1024": (2048, 1024),
        "cityscapes_769x769": (2048, 1024),
        "pascal_context": (520, 520),
        "pascal_voc": (2048, 512),
    }
    crop = build_transforms(recipe_config(compose, "cityscapes_769x769", "[769,769]").augment, "train")[1]
    assert (crop.height, crop.width, crop.cat_max_ratio) == (769, 769, 0.75)


@pytest.mark.parametrize(
    "step, message",
    [
        ({"name": "HorizontalFlipp"}, "unknown transform 'HorizontalFlipp'. Did you mean 'HorizontalFlip'"),
        ({"name": "PadIfNeeded", "min_height": 8, "value": 0}, "'PadIfNeeded' has no parameter 'value'"),  # 1.x name
        (
            {"name": "CatMaxRatioCrop", "height": 8, "width": 8, "cat_max_ratio": 1.5},
            "'CatMaxRatioCrop' rejects its arguments",
        ),
        ({"p": 0.5}, "step has no 'name' key"),
        ({"name": "RandomRescale", "scale": [10, 5], "ratio_range": [2.0, 0.5]}, "ratio_range"),
    ],
)
def test_builder_errors_name_the_step(step, message):
    with pytest.raises(ConfigError, match="augment.train\\[0\\]") as error:
        build_transforms({"train": [step]}, "train")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unresolved_crop_size_is_a_config_error():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {"augment": {"train": [{"name": "RandomCrop", "height": "${trainer.crop_size.0}", "width": 4}]}}
    )
    with pytest.raises(ConfigError, match="trainer.crop_size"):
        build_transforms(cfg.augment, "train")


def test_pipeline_steps_draw_from_one_stream():
    """Seeding a plain A.Compose gives every step the same stream (two flips always agree); ours does not."""
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    pipeline = build_transforms({"train": [{"name": "HorizontalFlip"}, {"name": "VerticalFlip"}]}, "train")
    agree = 0
    for seed in range(200):
        pipeline.set_random_seed(seed)
        corner = int(pipeline(image=image)["image"].flatten()[0])
        agree += (corner in (3, 11)) == (corner in (8, 11))
    assert 60 < agree < 140
    plain = A.Compose([A.HorizontalFlip(), A.VerticalFlip()], seed=0)
    assert all(plain.transforms[0].py_random.random() == plain.transforms[1].py_random.random() for _ in range(5))
