"""Done-when of the datasets: ``train.py dataset=<name> dataset.root=PATH`` trains and evaluates on each official
layout with its protocol recipe (in process, tiny copies, two iterations)."""

from __future__ import annotations

import csv

import pytest
from data_layouts import make_ade20k, make_cityscapes, make_coco_stuff, make_context, make_voc

from segfw.apis.train import train
from segfw.engine.data import build_split

LAYOUTS = {  # dataset: (write the tiny layout, raw ids to use, recipe, class count)
    "ade20k": (
        lambda root, ids: make_ade20k(root, ids, counts=(("training", 2), ("validation", 1))),
        range(151),
        "ade20k",
        150,
    ),
    "cityscapes": (make_cityscapes, [*range(34), 255], "cityscapes_512x1024", 19),
    "pascal_voc": (lambda root, ids: make_voc(root, ids, aug=True), [*range(21), 255], "pascal_voc", 21),
    "pascal_context": (make_context, range(60), "pascal_context", 59),
    "pascal_context60": (make_context, range(60), "pascal_context", 60),
    "coco_stuff164k": (
        lambda root, ids: make_coco_stuff(root, ids, converted=True),
        [*range(171), 255],
        "default",
        171,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_train_and_evaluate_on_the_official_layout(compose, tmp_path, name):
    write, ids, recipe, num_classes = LAYOUTS[name]
    write(tmp_path / "data", list(ids))
    overrides = [
        f"dataset={name}",
        f"dataset.root={tmp_path / 'data'}",
        f"augment={recipe}",
        "device=cpu",
        "model/backbone=resnet18",
        "model.head.channels=8",
        "model.aux_head.channels=8",
        "trainer.max_iters=2",
        "trainer.eval_interval=2",
        "trainer.batch_size=2",
        "trainer.crop_size=[16,16]",
        "trainer.num_workers=0",
        "trainer.num_vis_images=1",
        f"run_dir={tmp_path / 'run'}",
    ]
    if recipe != "default":
        overrides.append("augment.scale=[24,16]")  # evaluate on small images: keep the test fast
    cfg = compose("train", overrides)
    metrics = train(cfg)
    assert len(metrics["per_class"]) == num_classes
    rows = list(csv.reader((tmp_path / "run" / "confusion.csv").read_text().splitlines()))[1:]
    scored = sum(int(count) for row in rows for count in row[1:])
    labelled = sum(int((sample["mask"] != cfg.ignore_index).sum()) for sample in build_split(cfg, "val"))
    assert scored == labelled > 0  # every labelled validation pixel scored once, at the label's own size
