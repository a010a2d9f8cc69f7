"""Images beyond 8-bit RGB: 16-bit multichannel TIFFs read with their values, normalised per channel from
the dataset config, and the issue's done-when run: ConvNeXt + strip pooling + Dice/CE on a 4-channel folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import tiny_overrides
from segfw.errors import BadSampleError
from segfw.data.io import read_image
from segfw.data.transforms.normalize import ChannelNormalize
from conftest import run_tool


def _stack(height=12, width=20, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 65536, (height, width, 4), dtype=np.uint16)


def test_sixteen_bit_four_channel_tiff_keeps_its_values(tmp_path):
    values = _stack()
    tifffile.imwrite(tmp_path / "contig.tif", values, photometric="minisblack", planarconfig="contig")
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(values, -1, 0), photometric="minisblack", planarconfig="separate")
    for name in ("contig.tif", "planar.tif"):
        image = read_image(tmp_path / name, channels=4)
        assert image.dtype == np.float32 and image.shape == (12, 20, 4)
        np.testing.assert_array_equal(image, values.astype(np.float32))


def test_channel_count_mismatch_is_one_line_naming_the_file_and_key(tmp_path):
    tifffile.imwrite(tmp_path / "five.tif", np.zeros((8, 8, 5), np.uint16), photometric="minisblack", planarconfig="contig")
    with pytest.raises(BadSampleError) as error:
        read_image(tmp_path / "five.tif", channels=4)
    message = str(error.value)
    assert "five.tif" in message and "5 channel" in message and "dataset.channels" in message and "\n" not in message


def test_eight_bit_rgb_tiff_and_png_read_alike(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", rgb)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), read_image(tmp_path / "a.png"))
    assert read_image(tmp_path / "a.tif").dtype == np.uint8


def test_channel_normalize_uses_the_dataset_statistics_or_the_images_own():
    values = _stack().astype(np.float32)
    mean, std = [100.0, 200.0, 300.0, 400.0], [10.0, 20.0, 30.0, 40.0]
    out = ChannelNormalize(mean, std)(image=values)["image"]
    np.testing.assert_allclose(out, (values - np.array(mean)) / np.array(std), rtol=1e-6)
    own = ChannelNormalize()(image=values)["image"]
    np.testing.assert_allclose(own.mean((0, 1)), 0, atol=1e-4)
    np.testing.assert_allclose(own.std((0, 1)), 1, atol=1e-4)


def make_tiff_folder(root, count=(4, 2), size=(40, 56)) -> None:
    """A tiny RGB + near-infrared (16-bit) folder dataset: 'water' is dark in NIR, 'field' bright."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    (root / "classes.txt").write_text("field\nwater\nroad\n")
    for split, n in zip(("train", "val"), count):
        (root / "images" / split).mkdir(parents=True)
        (root / "masks" / split).mkdir(parents=True)
        for i in range(n):
            mask = np.zeros(size, np.uint8)
            mask[: size[0] // 2] = 1
            mask[:, : size[1] // 4] = 2
            mask[rng.random(size) < 0.02] = 255
            image = rng.normal(20000, 3000, (*size, 4))
            image[..., 3] += np.where(mask == 1, -15000, 15000)  # the NIR band separates water
            tifffile.imwrite(root / "images" / split / f"tile{i}.tif", image.clip(0, 65535).astype(np.uint16),
                             photometric="minisblack", planarconfig="contig")
            Image.fromarray(mask).save(root / "masks" / split / f"tile{i}.png")


@pytest.mark.slow
def test_new_user_trains_convnext_strip_pooling_dice_ce_on_a_four_channel_tiff_folder(tmp_path):
    """The issue's done-when: one tools/train.py command, random weights, offline."""
    make_tiff_folder(tmp_path / "tiles")
    base = [o for o in tiny_overrides(tmp_path) if not o.startswith(("dataset.", "model/backbone", "model.aux_head"))]
    run_tool("train.py", *base,
             "dataset=folder", f"dataset.root={tmp_path / 'tiles'}", "dataset.channels=4",
             "dataset.mean=[20000,20000,20000,20000]", "dataset.std=[3000,3000,3000,16000]", "augment=multichannel",
             "model/backbone=timm", "model.backbone.name=convnext_atto", "model/neck=strip_pooling",
             "model/loss=dice_ce", "model.aux_head.channels=16")
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["per_class"]) == ["field", "water", "road"]
    config = (run / "config.yaml").read_text()
    assert "in_channels: 4" in config and "convnext_atto" in config and "strip_pooling" in config
