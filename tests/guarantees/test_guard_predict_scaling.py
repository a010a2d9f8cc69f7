"""Segmenter.predict reads uint16 and float images on the scale the run trained on (issue 21, defect 13):
uint16 by 255/65535 and float as [0, 1], so the same picture predicts the same pixels as its uint8 array;
a float image outside [0, 1] or an unusable dtype is one line (before: 86 % / 76 % agreement, no word)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from segfw.apis import Segmenter
from segfw.apis.run import Run
from segfw.errors import ConfigError
from segfw.models.segmentor import build_segmentor


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from conftest import CONFIGS
    from segfw.config import register_schemas

    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(config_name="train", overrides=["model/backbone=resnet18", "model.head.channels=8",
                                                      "model.aux_head.channels=8", "device=cpu"])
    config = OmegaConf.to_container(cfg, resolve=True)
    torch.manual_seed(0)
    model = build_segmentor(config["model"], num_classes=3)
    path = tmp_path_factory.mktemp("predict") / "model.pt"
    torch.save({"model": model.state_dict(), "config": config, "classes": ["a", "b", "c"], "palette": None,
                "iteration": 0}, path)
    return Segmenter(Run.locate(checkpoint=path), device="cpu")


def test_uint16_and_float_predict_as_their_uint8_image(segmenter):
    image = np.random.default_rng(0).integers(0, 256, (29, 41, 3), dtype=np.uint8)
    reference = segmenter.predict(image)
    for same in (image.astype(np.uint16) * 257, image.astype(np.float32) / 255, image.astype(np.int64)):
        result = segmenter.predict(same)
        np.testing.assert_array_equal(result.class_ids, reference.class_ids)
        np.testing.assert_allclose(result.probabilities, reference.probabilities, atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (np.full((8, 8, 3), 255.0, np.float32), r"float image with values in \[255, 255\]; a float image is read as \[0, 1\]"),
    (np.full((8, 8, 3), -1, np.int32), "image of dtype int32: pass uint8"),
])
def test_an_image_off_the_scale_is_one_line(segmenter, bad, message):
    with pytest.raises(ConfigError, match=message):
        segmenter.predict(bad)
