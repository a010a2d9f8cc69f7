"""The notebook API: a run or a checkpoint → predictions on arrays and files; presets in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_overrides
from segfw.apis import Segmenter, build_model
from conftest import CLASSES, run_tool


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    run_tool("train.py", *tiny_overrides(tmp))
    return tmp / "run"


def test_segmenter_predicts_what_the_infer_tool_writes(run, tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    (tmp_path / "images").mkdir()  # infer refuses an output inside its input's folder
    Image.fromarray(image).save(tmp_path / "images" / "in.png")
    segmenter = Segmenter.from_run(run, device="cpu")
    from_array, from_file = segmenter.predict(image), segmenter.predict(tmp_path / "images" / "in.png")
    assert from_array.class_ids.shape == (37, 53) and from_array.probabilities.shape == (len(CLASSES), 37, 53)
    np.testing.assert_allclose(from_array.probabilities.sum(0), 1, atol=1e-5)
    np.testing.assert_array_equal(from_array.class_ids, from_array.probabilities.argmax(0))
    np.testing.assert_array_equal(from_array.class_ids, from_file.class_ids)
    assert from_array.overlay().shape == (37, 53, 3) and from_array.overlay().dtype == np.uint8
    assert sum(from_array.area().values()) == pytest.approx(1.0) and list(from_array.area()) == CLASSES

    run_tool("infer.py", f"run_dir={run}", f"input={tmp_path / 'images' / 'in.png'}", f"output={tmp_path / 'out'}", "device=cpu")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "in.png")), from_file.class_ids)

    checkpoint = Segmenter.from_checkpoint(run / "checkpoints" / "last.pt", device="cpu")
    assert checkpoint.classes == CLASSES and checkpoint.predict(image).class_ids.shape == (37, 53)
    with pytest.raises(Exception, match="4 channels"):
        segmenter.predict(np.zeros((8, 8, 4), np.uint8))


def test_build_model_makes_any_preset_in_one_line():
    model = build_model("fcn_r18", num_classes=5, overrides=["model/neck=strip_pooling"]).eval()
    assert type(model.neck.block).__name__ == "StripPooling"
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5, 32, 32)
