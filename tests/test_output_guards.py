"""infer and eval never write into their own inputs (issue 9, items 2 and 7): the input images, the
ground truth, the dataset; duplicate stems in an input folder are an error, not a silent overwrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_overrides
from segfw.apis.evaluate import evaluate_checkpoint
from segfw.apis.infer import infer_files
from segfw.apis.train import train
from segfw.errors import BadSampleError, ConfigError


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from hydra import compose, initialize_config_dir

    from conftest import CONFIGS
    from segfw.config import register_schemas

    tmp = tmp_path_factory.mktemp("guards")
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        train(compose("train", tiny_overrides(tmp, **{"trainer.max_iters": "1", "trainer.eval_interval": "1"})))
    return tmp / "run" / "checkpoints" / "last.pt"


def photos(folder: Path, names=("a.jpg", "b.png")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(folder / name)
    return folder


@pytest.mark.parametrize("inside", [".", "sub"])
def test_infer_refuses_an_output_in_its_input_folder(compose, checkpoint, tmp_path, inside):
    images = photos(tmp_path / "images")
    before = snapshot(images)
    cfg = compose("infer", [f"checkpoint={checkpoint}", f"input={images}", f"output={images / inside}", "device=cpu"])
    with pytest.raises(ConfigError, match=r"output=.* the input .*give output= a path outside it"):
        infer_files(cfg)
    assert snapshot(images) == before


def test_infer_refuses_duplicate_stems_and_writes_each_image_once(compose, checkpoint, tmp_path):
    images = photos(tmp_path / "images", ("s03.jpg", "s03.png"))
    cfg = compose("infer", [f"checkpoint={checkpoint}", f"input={images}", f"output={tmp_path / 'out'}", "device=cpu"])
    with pytest.raises(BadSampleError, match=r"s03.jpg and s03.png: two images named 's03'"):
        infer_files(cfg)
    (images / "s03.png").unlink()
    assert [p.name for p in infer_files(cfg)] == ["s03.png"]


@pytest.mark.parametrize("option", ["save_predictions", "output"])
def test_eval_refuses_to_write_into_the_dataset(compose, checkpoint, tmp_path, option):
    cache = checkpoint.parents[2] / "cache"
    root = next(cache.rglob("classes.txt")).parent  # the synthetic set, in the folder layout
    target = root / "masks" / "val" if option == "save_predictions" else root / "eval.json"
    before = snapshot(cache)
    cfg = compose("eval", [f"checkpoint={checkpoint}", f"{option}={target}", "device=cpu"])
    with pytest.raises(ConfigError, match=rf"{option}=.* is inside the dataset root"):
        evaluate_checkpoint(cfg, [f"{option}={target}"])
    assert snapshot(cache) == before
