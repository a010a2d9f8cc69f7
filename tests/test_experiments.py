"""Every paper-style recipe in configs/experiment/ composes, resolves and names its run folder."""

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from conftest import CONFIGS
from segfw.config import register_schemas

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_resolves(name):
    register_schemas()
    overrides = [f"experiment={name}", "dataset.root=/data"] if name != "context_modules_synthetic" else [f"experiment={name}"]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = hydra_compose("train", overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # as inside tools/train.py, for ${hydra:...}
    with open_dict(cfg):
        del cfg["hydra"]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["experiment"] not in ("default", "") and "$" not in resolved["experiment"]
    assert resolved["trainer"]["max_iters"] > 0


def test_command_line_beats_the_recipe(compose):
    cfg = compose("train", ["experiment=spnet_r50_ade20k", "dataset.root=/data", "trainer.max_iters=7",
                            "model.backbone.pretrained=null"])
    assert cfg.trainer.max_iters == 7 and cfg.model.backbone.pretrained is None
    assert cfg.model.head.name == "sp_head" and cfg.dataset.name == "ade20k" and cfg.augment.scale == [2048, 512]
    resolved = OmegaConf.to_container(cfg.augment, resolve=True)
    assert resolved["train"][1]["height"] == 512
