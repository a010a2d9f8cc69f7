"""One source for every default: the trainer's values live in configs/trainer/default.yaml only (the schemas take
theirs from it), the fallbacks for runs saved before a key existed agree with it, and the auxiliary loss weight
of every preset is segfw.constants.AUX_WEIGHT through ``${segfw.constant:AUX_WEIGHT}``."""

from __future__ import annotations

import dataclasses
import re

import pytest
from omegaconf import OmegaConf

from conftest import CONFIGS
from segfw import config, constants
from segfw.errors import ConfigError


def test_the_trainer_schema_defaults_are_the_yaml_values():
    yaml = config.TRAINER_DEFAULTS
    schema = OmegaConf.to_container(OmegaConf.structured(config.TrainerConfig))
    assert {k: v for k, v in schema.items() if k not in ("hook", "logger")} == yaml
    composed = OmegaConf.to_container(config.compose_config("train").trainer)
    assert {k: v for k, v in composed.items() if k not in ("hook", "logger")} == yaml
    for schema_class in (config.EvalTrainerConfig, config.BrowseTrainerConfig):  # the other tools' trainer keys
        for f in dataclasses.fields(schema_class):
            assert getattr(schema_class(), f.name) == yaml[f.name], (schema_class.__name__, f.name)


def test_the_fallback_lists_of_old_runs_agree_with_the_yaml():
    assert tuple(config.TRAINER_DEFAULTS["hooks"]) == constants.TRAINER_HOOKS
    assert tuple(config.TRAINER_DEFAULTS["loggers"]) == constants.TRAINER_LOGGERS


def test_aux_weight_has_one_definition():
    literal = [p.name for p in (CONFIGS / "model").glob("*.yaml") if re.search(r"^aux_weight: *[0-9]", p.read_text(), re.M)]
    assert not literal, f"presets writing aux_weight as a number instead of ${{segfw.constant:AUX_WEIGHT}}: {literal}"
    for preset in ("fcn_r18", "pspnet_r50-d8", "segformer_mit-b0"):
        model = config.compose_config("train", [f"model={preset}"]).model
        assert model.get("aux_weight", constants.AUX_WEIGHT) == constants.AUX_WEIGHT
    assert config.compose_config("train", ["model.aux_weight=0.2"]).model.aux_weight == 0.2
    with pytest.raises(ConfigError, match="names no constant"):
        config.constant("AUX_WEIGHTS")
