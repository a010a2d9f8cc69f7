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

from segfw.config import register_schemas
from segfw.data.datasets.cityscapes import CITYSCAPES_LABELS
from segfw.engine.evaluate_checkpoint import evaluate_checkpoint
from segfw.engine.trainer import train

cs_eval = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")

SIZE = (37, 53)  # odd (H, W): predictions must come back at the label's original resolution
FRAMES = {"train": [("aachen", 0, 19), ("aachen", 0, 20)], "val": [("frankfurt", 0, 294), ("lindau", 1, 19), ("munster", 3, 74)]}
# Every official id, evaluated or not; not license plate (-1), which the official label images never hold.
RAW_IDS = np.array([label_id for _, label_id, _ in CITYSCAPES_LABELS if label_id >= 0], dtype=np.uint8)


def make_cityscapes(root, rng: np.random.Generator) -> None:
    """leftImg8bit + gtFine ``*_labelIds.png`` (random ``RAW_IDS``) in the official layout."""
    for split, frames in FRAMES.items():
        for city, seq, frame in frames:
            stem = f"{city}_{seq:06d}_{frame:06d}"
            for folder, suffix in (("leftImg8bit", "_leftImg8bit.png"), ("gtFine", "_gtFine_labelIds.png")):
                (root / folder / split / city).mkdir(parents=True, exist_ok=True)
            image = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
            labels = rng.choice(RAW_IDS, size=SIZE)
            Image.fromarray(image).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
            Image.fromarray(labels, mode="L").save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")


def composed(config_name: str, overrides: list[str]):
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        return compose(config_name=config_name, overrides=overrides)


def trained_checkpoint(tmp, root):
    """A 2-iteration training on the tiny layout, its classifier then scrambled so that predictions
    spread over many classes (the scores compared below are then far from trivial)."""
    overrides = [
        "device=cpu", "dataset=cityscapes", f"dataset.root={root}", "trainer.max_iters=2", "trainer.eval_interval=2",
        "trainer.batch_size=2", "trainer.crop_size=[32,32]", "trainer.num_workers=0", "trainer.num_vis_images=0",
        "model.head.channels=16", "model.aux_head.channels=16", f"run_dir={tmp / 'run'}",
    ]
    train(composed("train", overrides))
    path = tmp / "run" / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=False)
    generator = torch.Generator().manual_seed(0)
    for key in ("head.classifier.1.weight", "head.classifier.1.bias"):
        state["model"][key] = torch.randn(state["model"][key].shape, generator=generator) * 20
    torch.save(state, path)
    return path


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


def test_saved_predictions_score_the_same_under_cityscapes_scripts(tmp_path, capsys):
    root = tmp_path / "cityscapes"
    make_cityscapes(root, np.random.default_rng(0))
    checkpoint = trained_checkpoint(tmp_path, root)
    predictions = tmp_path / "predictions"
    overrides = [f"checkpoint={checkpoint}", f"save_predictions={predictions}", f"output={tmp_path / 'eval.json'}",
                 "device=cpu"]
    ours = evaluate_checkpoint(composed("eval", overrides), overrides)

    args = cityscapes_scripts_args(tmp_path)
    args.predictionPath = str(predictions)
    ground_truth = sorted(str(p) for p in (root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    found = [cs_eval.getPrediction(args, gt) for gt in ground_truth]  # the official name matching
    assert len(ground_truth) == len(FRAMES["val"]) and len(set(found)) == len(found)

    evaluated = {label_id for _, label_id, train_id in CITYSCAPES_LABELS if train_id != 255}
    predicted_ids = set()
    for prediction, gt in zip(found, ground_truth):
        labels = np.array(Image.open(prediction))
        assert labels.shape == SIZE and labels.dtype == np.uint8
        predicted_ids |= set(np.unique(labels).tolist())
        assert Path(prediction).name.split("_")[:3] == Path(gt).name.split("_")[:3]  # <city>_<seq>_<frame>
    assert predicted_ids <= evaluated and len(predicted_ids) >= 5

    official = cs_eval.evaluateImgLists(found, ground_truth, args)
    capsys.readouterr()
    assert math.isclose(ours["mIoU"], 100 * official["averageScoreClasses"], rel_tol=0, abs_tol=1e-9)
    for name, score in official["classScores"].items():
        if name in ours["per_class"]:
            mine = ours["per_class"][name]
            assert (mine is None and math.isnan(score)) or math.isclose(mine, 100 * score, abs_tol=1e-9), name
        else:  # a label cityscapesScripts does not evaluate
            assert math.isnan(score), name
    assert 0 < ours["mIoU"] < 100
