"""Official-format Cityscapes results: ``save_predictions`` writes labelId PNGs that cityscapesScripts
finds by name, and its ``evaluateImgLists`` scores them exactly as segfw does (19 classes, same ignores)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIGS
from hydra import compose, initialize_config_dir
from PIL import Image

from segfw.apis.evaluate import evaluate_checkpoint, prediction_writer
from segfw.apis.train import train
from segfw.config import register_schemas
from segfw.data.datasets.cityscapes import CITYSCAPES_LABELS, Cityscapes
from segfw.metrics import ConfusionMatrix

cs_eval = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")

SIZE = (37, 53)  # odd (H, W): predictions must come back at the label's original resolution
FRAMES = {  # (city, sequence, frame) per split
    "train": [("aachen", 0, 19), ("aachen", 0, 20)],
    "val": [("frankfurt", 0, 294), ("lindau", 1, 19), ("munster", 3, 74)],
}
# Every official id, evaluated or not; not license plate (-1), which the official label images never hold.
RAW_IDS = np.array([label_id for _, label_id, _ in CITYSCAPES_LABELS if label_id >= 0], dtype=np.uint8)


def make_cityscapes(root, rng: np.random.Generator) -> None:
    """leftImg8bit + gtFine ``*_labelIds.png`` (random ``RAW_IDS``) in the official layout."""
    for split, frames in FRAMES.items():
        for city, seq, frame in frames:
            stem = f"{city}_{seq:06d}_{frame:06d}"
            for folder in ("leftImg8bit", "gtFine"):
                (root / folder / split / city).mkdir(parents=True, exist_ok=True)
            # 6 x 8 blocks, each of one random id and one random colour
            rows, cols = np.arange(SIZE[0]) * 6 // SIZE[0], np.arange(SIZE[1]) * 8 // SIZE[1]
            block_ids, block_colours = rng.choice(RAW_IDS, size=(6, 8)), rng.integers(0, 256, (6, 8, 3))
            labels = block_ids[rows[:, None], cols[None, :]]
            noise = rng.integers(-20, 21, (*SIZE, 3))
            image = np.clip(block_colours[rows[:, None], cols[None, :]] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
            Image.fromarray(labels, mode="L").save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")


def composed(config_name: str, overrides: list[str]):
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        return compose(config_name=config_name, overrides=overrides)


def trained_checkpoint(tmp, root):
    """``last.pt`` of a 2-iteration training on the tiny layout."""
    overrides = [
        "device=cpu", "dataset=cityscapes", f"dataset.root={root}", "trainer.max_iters=2", "trainer.eval_interval=2",
        "trainer.batch_size=2", "trainer.crop_size=[32,32]", "trainer.num_workers=0", "trainer.num_vis_images=0",
        "model.head.channels=16", "model.aux_head.channels=16", f"run_dir={tmp / 'run'}",
    ]
    train(composed("train", overrides))
    return tmp / "run" / "checkpoints" / "last.pt"


def cityscapes_scripts_args(tmp):
    args = copy.copy(cs_eval.args)
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.JSONOutput = False
    args.quiet = True
    args.colorized = False
    args.exportFile = str(tmp / "cityscapes_result.json")
    args.predictionWalk = None
    return args


def official_scores(predictions, root, tmp):
    """cityscapesScripts on the val ground truth, each matched to its prediction by its own name rule."""
    args = cityscapes_scripts_args(tmp)
    args.predictionPath = str(predictions)
    ground_truth = sorted(str(p) for p in (root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    found = [cs_eval.getPrediction(args, gt) for gt in ground_truth]
    assert len(ground_truth) == len(FRAMES["val"]) and len(set(found)) == len(found)
    for prediction, gt in zip(found, ground_truth):
        assert Path(prediction).name.split("_")[:3] == Path(gt).name.split("_")[:3]  # <city>_<seq>_<frame>
    return cs_eval.evaluateImgLists(found, ground_truth, args), found


def assert_same_scores(ours: dict, official: dict) -> None:
    assert math.isclose(ours["mIoU"], 100 * official["averageScoreClasses"], rel_tol=0, abs_tol=1e-9)
    for name, score in official["classScores"].items():
        if name in ours["per_class"]:
            mine = ours["per_class"][name]
            assert (mine is None and math.isnan(score)) or math.isclose(mine, 100 * score, abs_tol=1e-9), name
        else:  # a label cityscapesScripts does not evaluate
            assert math.isnan(score), name


@pytest.fixture
def cityscapes_root(tmp_path):
    root = tmp_path / "cityscapes"
    make_cityscapes(root, np.random.default_rng(0))
    return root


def test_every_train_id_is_written_as_its_label_id(cityscapes_root, tmp_path, capsys):
    """Random predictions over all 19 classes, written by the eval tool's writer, score the same."""
    dataset = Cityscapes(cityscapes_root, split="val")
    predictions, matrix = tmp_path / "predictions", ConfusionMatrix(dataset.num_classes)
    write = prediction_writer(dataset, predictions)
    generator = torch.Generator().manual_seed(0)
    for index in range(len(dataset)):
        _, label = dataset.load(index)
        pred = torch.randint(0, dataset.num_classes, label.shape, generator=generator)
        write(pred, {"name": [dataset.samples[index].name]}, 0)
        matrix.update(pred[None], torch.as_tensor(label, dtype=torch.int64)[None])
    official, found = official_scores(predictions, cityscapes_root, tmp_path)
    capsys.readouterr()
    written = set().union(*(np.unique(np.array(Image.open(path))).tolist() for path in found))
    assert written == {label_id for _, label_id, train_id in CITYSCAPES_LABELS if train_id != 255}
    assert_same_scores(matrix.summary(dataset.classes), official)


def test_saved_predictions_score_the_same_under_cityscapes_scripts(cityscapes_root, tmp_path, capsys):
    """The real path: a trained checkpoint, tools/eval.py's save_predictions, then cityscapesScripts."""
    root = cityscapes_root
    checkpoint = trained_checkpoint(tmp_path, root)
    predictions = tmp_path / "predictions"
    overrides = [f"checkpoint={checkpoint}", f"save_predictions={predictions}", f"output={tmp_path / 'eval.json'}",
                 "device=cpu"]
    ours = evaluate_checkpoint(composed("eval", overrides), overrides)

    official, found = official_scores(predictions, root, tmp_path)
    capsys.readouterr()
    for path in found:
        labels = np.array(Image.open(path))
        assert labels.shape == SIZE and labels.dtype == np.uint8  # the label's original resolution
    assert_same_scores(ours, official)
