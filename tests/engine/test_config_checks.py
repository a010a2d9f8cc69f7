"""Every config value is range-checked before anything is built (issue 9, items 6, 8, 10): one line per key."""

from __future__ import annotations

import pytest

from conftest import tiny_overrides
from segfw.engine.config_checks import check_train_config, train_config_problems
from segfw.errors import ConfigError

BAD_VALUES = {
    "trainer.batch_size=0": "trainer.batch_size=0 is invalid",
    "trainer.batch_size=-1": "trainer.batch_size=-1 is invalid",
    "trainer.eval_interval=0": "trainer.eval_interval=0 is invalid",
    "trainer.crop_size=[64]": "trainer.crop_size=[64] is invalid: give [H, W]",
    "optimizer.lr=fast": "optimizer.lr=fast is invalid: give a positive number",
    "optimizer.lr=-0.1": "optimizer.lr=-0.1 is invalid",
    "trainer.num_workers=-1": "trainer.num_workers=-1 is invalid",
    "trainer.max_iters=0": "trainer.max_iters=0 is invalid",
    "trainer.log_interval=0": "trainer.log_interval=0 is invalid",
    "test.mode=slid": "test.mode=slid is invalid: use one of whole, slide",
    "test.mode=slide": "test.mode=slide needs test.crop_size=[H,W] and test.stride=[H,W]",
    "test.scales=[]": "test.scales=[] is invalid",
    "scheduler.warmup_ratio=2": "scheduler.warmup_ratio=2 is invalid",
}


@pytest.mark.parametrize("override", BAD_VALUES)
def test_each_bad_value_is_one_line_naming_the_key(compose, tmp_path, override):
    cfg = compose("train", tiny_overrides(tmp_path) + [override])
    with pytest.raises(ConfigError) as caught:
        check_train_config(cfg)
    assert BAD_VALUES[override] in str(caught.value) and "\n" not in str(caught.value)


def test_all_problems_are_listed_together(compose, tmp_path):
    cfg = compose("train", tiny_overrides(tmp_path) + ["trainer.batch_size=0", "optimizer.lr=fast"])
    assert len(train_config_problems(cfg)) == 2


def test_an_unset_dataset_root_is_named(compose, tmp_path):
    cfg = compose("train", ["dataset=folder"])
    with pytest.raises(ConfigError, match=r"dataset.root is not set: give dataset.root=PATH"):
        check_train_config(cfg)


def test_the_shipped_defaults_pass(compose, tmp_path):
    assert train_config_problems(compose("train", tiny_overrides(tmp_path))) == []
    assert train_config_problems(compose("train", [])) == []


def test_every_shipped_recipe_passes(compose):
    from conftest import CONFIGS

    for recipe in sorted((CONFIGS / "experiment").glob("*.yaml")):
        problems = train_config_problems(compose("train", [f"experiment={recipe.stem}"]))
        assert [p for p in problems if not p.startswith("dataset.root is not set")] == [], recipe.name
