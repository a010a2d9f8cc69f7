"""One ``ignore_index`` for everything: set once, the datasets, the loss, the crop padding and the metrics use it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from data_layouts import make_ade20k
from conftest import CONFIGS
from segfw.engine.config_checks import check_train_config
from segfw.engine.data import build_eval_loader, build_split
from segfw.engine.evaluator import evaluate
from segfw.errors import ConfigError
from segfw.models.segmentor import build_segmentor

IGNORE = 200  # any free label of ADE20K (150 classes) other than the default 255
INTERPOLATION = "${ignore_index}"


def overrides(root: Path, *extra: str) -> list[str]:
    return [
        "dataset=ade20k", f"dataset.root={root}", "model=fcn_r18", "model.backbone.pretrained=null",
        "model/backbone=resnet18", "model.head.channels=8", "model.aux_head.channels=8",
        "trainer.crop_size=[64,64]", *extra,
    ]


def test_one_value_reaches_datasets_loss_padding_and_metrics(compose, tmp_path):
    raw = make_ade20k(tmp_path, list(range(0, 151)), counts=(("training", 1), ("validation", 1)))
    cfg = compose("train", overrides(tmp_path, f"ignore_index={IGNORE}"))
    check_train_config(cfg)

    val = build_split(cfg, "val")  # the validation pipeline leaves the mask as read: raw 0 → IGNORE
    label = raw["ADE_val_00000001"]
    assert torch.equal(val[0]["mask"], torch.as_tensor(np.where(label == 0, IGNORE, label - 1)))

    mask = build_split(cfg, "train")[0]["mask"]  # 13x14 scaled by at most 2, padded to 64x64
    assert mask.shape == (64, 64)
    assert (mask[-1] == IGNORE).all() and (mask[:, 28:36] == IGNORE).all()  # padding (image flipped or not)
    assert set(mask.unique().tolist()) <= set(range(150)) | {IGNORE}

    model = build_segmentor(OmegaConf.to_container(cfg.model, resolve=True), 150)
    images = torch.randn(2, 3, 32, 32)
    losses = model.losses(images, torch.full((2, 32, 32), IGNORE))
    assert losses and all(value.item() == 0 for value in losses.values())  # every pixel ignored: nothing to learn
    assert model.losses(images, torch.zeros(2, 32, 32, dtype=torch.int64))["loss_ce"].item() > 0

    result = evaluate(model, build_eval_loader(val, 0), val.classes, torch.device("cpu"), cfg.test)
    assert result.confusion.sum().item() == int((label != 0).sum())  # the ignored pixels are not scored


def test_the_protocol_crop_and_padding_read_it(compose, tmp_path):
    cfg = compose("train", overrides(tmp_path, "augment=protocol", f"ignore_index={IGNORE}"))
    steps = {step["name"]: step for step in OmegaConf.to_container(cfg.augment, resolve=True)["train"]}
    assert steps["CatMaxRatioCrop"]["ignore_index"] == IGNORE
    assert steps["PadIfNeeded"]["fill_mask"] == IGNORE


def test_setting_the_loss_alone_names_the_key_to_set(compose, tmp_path):
    cfg = compose("train", overrides(tmp_path, "model/loss=dice_ce", "model.loss.ignore_index=0"))
    with pytest.raises(ConfigError, match=r"model\.loss\.ignore_index=0 differs from ignore_index=255: set "
                                          r"ignore_index=0 instead"):
        check_train_config(cfg)


def test_an_ignore_index_naming_a_class_is_refused(compose, tmp_path):
    make_ade20k(tmp_path, [0, 1, 2], counts=(("validation", 1),))
    cfg = compose("train", overrides(tmp_path, "ignore_index=3"))
    with pytest.raises(ConfigError, match=r"ignore_index=3 is not a free label of ADE20K .* set ignore_index to a "
                                          r"value in 150\.\.255"):
        build_split(cfg, "val")


def keyed_values(node, keys: set[str], path: str = ""):
    """``(path, value)`` of every key in ``keys`` anywhere in a plain YAML container."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if key in keys:
            yield where, value
        yield from keyed_values(value, keys, where)


def test_no_config_spells_out_the_ignore_label():
    """Every loss, crop and padding of every YAML interpolates the one top-level value."""
    found = []
    for path in sorted(CONFIGS.rglob("*.yaml")):
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        found += [(path.relative_to(CONFIGS), where, value)
                  for where, value in keyed_values(node, {"ignore_index", "fill_mask"})]
    assert len(found) >= 30  # the 19 presets, the 7 losses, the paddings
    assert [item for item in found if item[2] != INTERPOLATION] == []
