"""Every paper-style recipe in configs/experiment/ composes, resolves and names its run folder."""

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from conftest import CONFIGS
from segfw.config import register_schemas
from segfw.data.transforms.build import build_transforms

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_resolves(name):
    register_schemas()
    embedded = name in ("context_modules_synthetic", "context_study", "context_arena")  # embedded datasets have no root
    overrides = [f"experiment={name}"] if embedded else [f"experiment={name}", "dataset.root=/data"]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = hydra_compose("train", overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # as inside tools/train.py, for ${hydra:...}
    with open_dict(cfg):
        del cfg["hydra"]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["experiment"] not in ("default", "") and "$" not in resolved["experiment"]
    assert resolved["trainer"]["max_iters"] > 0
    for stage in ("train", "val"):  # every step exists and accepts its arguments (albumentations 2.x names)
        build_transforms(resolved["augment"], stage)


RECIPES = [name for name in EXPERIMENTS if name not in ("context_modules_synthetic", "context_study", "context_arena")]  # studies, not recipes


def test_every_recipe_is_in_the_docs_table_with_its_source():
    """docs/modules.md "Recipes": one row per recipe naming the number it should reproduce and where it comes from."""
    rows = [line for line in (CONFIGS.parent / "docs" / "modules.md").read_text().splitlines() if line.startswith("| `")]
    for name in RECIPES:
        row = next((r for r in rows if r.startswith(f"| `{name}` |")), None)
        assert row is not None, f"docs/modules.md has no recipe row for {name}"
        assert len(row.split("|")) >= 6, row


def test_spnet_recipe_is_the_official_protocol(compose):
    cfg = compose("train", ["experiment=spnet_r50_ade20k", "dataset.root=/data"])
    assert cfg.trainer.crop_size == [480, 480] and cfg.trainer.batch_size * 4 == 16
    assert cfg.trainer.max_iters == 120 * (20210 // 4 // 4)  # 120 epochs on 4 processes
    assert cfg.optimizer.weight_decay == 1e-4 and cfg.optimizer.head_lr_mult == 10 and cfg.scheduler.min_lr == 0
    assert (cfg.test.mode, list(cfg.test.crop_size), list(cfg.test.stride), cfg.test.flip) == ("slide", [480, 480], [320, 320], True)
    steps = [step["name"] for step in cfg.augment.train]
    assert steps == ["RandomScale", "Rotate", "GaussianBlur", "HorizontalFlip", "RandomCrop", "Normalize"]
    assert list(cfg.augment.train[1].limit) == [-10, 10]
    assert [step["name"] for step in cfg.augment.val] == ["LongestMaxSize", "Normalize"]
    assert cfg.augment.val[0].max_size == 512


def test_spnet_train_pipeline_runs_and_rotation_fills_the_mask_with_ignore():
    import numpy as np

    cfg = OmegaConf.load(CONFIGS / "augment" / "spnet_ade20k.yaml")
    cfg = OmegaConf.merge(cfg, {"trainer": {"crop_size": [48, 48]}, "ignore_index": 255})  # the top-level keys
    train = build_transforms(OmegaConf.to_container(cfg, resolve=True), "train")
    train.set_random_seed(0)
    image, mask = np.full((40, 60, 3), 200, np.uint8), np.zeros((40, 60), np.uint8)
    seen_ignore = False
    for _ in range(8):
        out = train(image=image, mask=mask)
        assert tuple(out["image"].shape) == (3, 48, 48) and tuple(out["mask"].shape) == (48, 48)
        assert out["image"].isfinite().all()
        seen_ignore |= bool((out["mask"] == 255).any())
    assert seen_ignore  # padding and rotation corners are ignored, not class 0


def test_command_line_beats_the_recipe(compose):
    cfg = compose("train", ["experiment=spnet_r50_ade20k", "dataset.root=/data", "trainer.max_iters=7",
                            "model.backbone.pretrained=null"])
    assert cfg.trainer.max_iters == 7 and cfg.model.backbone.pretrained is None
    assert cfg.model.head.name == "sp_head" and cfg.dataset.name == "ade20k" and cfg.augment.val[0].max_size == 512
    resolved = OmegaConf.to_container(cfg.augment, resolve=True)
    assert resolved["train"][4]["height"] == 480


def test_context_ablation_baseline_is_mmseg_fcn_and_only_the_neck_varies(compose):
    """identity in the ablation's context stage has fcn_r50-d8's layers (mmseg's FCN, whose head-level
    equality with the stage is tested in test_mmseg_context_heads.py); the other variants differ in the neck only."""
    import segfw

    def model(overrides):
        cfg = compose("train", overrides + ["model.backbone.pretrained=null"]).model
        return cfg, segfw.build_segmentor(OmegaConf.to_container(cfg, resolve=True), num_classes=150)

    ablation = ["experiment=context_ablation_r50-d8_ade20k", "dataset.root=/data"]
    _, baseline = model(ablation + ["model/neck=identity"])
    _, fcn = model(["model=fcn_r50-d8"])
    shapes = lambda m: sorted(tuple(p.shape) for p in m.state_dict().values())  # noqa: E731
    assert shapes(baseline) == shapes(fcn)
    cfg, criss_cross = model(ablation + ["model/neck=criss_cross"])
    assert (cfg.neck.reduce, cfg.neck.concat_input, cfg.head.num_convs) == (512, True, 0)
    for part in ("backbone", "head", "aux_head"):
        assert shapes(getattr(criss_cross, part)) == shapes(getattr(baseline, part))
