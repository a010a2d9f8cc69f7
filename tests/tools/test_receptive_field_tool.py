"""tools/receptive_field.py: the real config composed by Hydra, the table, the PNG/JSON, the guard, a checkpoint."""
from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from conftest import CONFIGS
from segfw.analysis.receptive_field_report import receptive_field_report
from segfw.config import compose_config
from segfw.errors import ConfigError
from segfw.models.segmentor import build_segmentor

LITE = ["model/backbone=lite_resnet", "model.backbone.widths=[8,8,8,8]", "model/aux_head=none",
        "model.head.channels=8", "model.head.num_convs=1"]


def test_table_png_json_and_no_overwrite(tmp_path):
    cfg = compose_config("receptive_field", [*LITE, "input=[48,40]", f"output={tmp_path}", "inputs=1", "positions=1"])
    rf, table = receptive_field_report(cfg, "fcn_r18")
    assert "RF (support width, px)" in table and "ERF90 (radius, px)" in table
    record = json.loads((tmp_path / "fcn_r18_48x40.json").read_text())
    assert record["rf_rows"] == rf.rf_rows and record["erf50_cols"] == rf.erf50_cols and record["weights"] == "random"
    assert (tmp_path / "fcn_r18_48x40.png").read_bytes()[:4] == b"\x89PNG"
    assert rf.erf50_rows <= rf.erf90_rows <= rf.rf_rows
    with pytest.raises(ConfigError, match="overwrite=true"):
        receptive_field_report(cfg, "fcn_r18")
    receptive_field_report(OmegaConf.merge(cfg, {"overwrite": True}), "fcn_r18")


def test_a_checkpoint_loads_through_the_safe_loader(tmp_path):
    run_cfg = compose_config("train", LITE)
    node = OmegaConf.to_container(run_cfg.model, resolve=True)
    model = build_segmentor(node, num_classes=3)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0)  # trained weights all zero: the footprint vanishes (random weights would not)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    checkpoint = tmp_path / "run" / "checkpoints" / "best.pt"
    torch.save({"model": model.state_dict(), "config": OmegaConf.to_container(run_cfg, resolve=True),
                "classes": ["a", "b", "c"]}, checkpoint)
    cfg = compose_config("receptive_field", [f"checkpoint={checkpoint}", "input=[32,32]", "erf=false", "output=null"])
    rf, table = receptive_field_report(cfg, "fcn_r18")
    assert "run at 32x32 (trained weights)" in table and (rf.rf_rows, rf.rf_cols) == (0, 0)


# Every preset runs (tools/receptive_field.py model=NAME ... erf=false); looping over all ~37 in the suite
# costs minutes on 2 CPU cores, so the test covers a ResNet with in-backbone strip pooling and a transformer (fcn_r18 is above).
PRESETS = ["spnet_r50", "segformer_mit-b0"]


def test_representative_presets_have_a_theoretical_rf():
    assert set(PRESETS) <= {p.stem for p in (CONFIGS / "model").glob("*.yaml")}
    for preset in PRESETS:
        cfg = compose_config("receptive_field", [f"model={preset}", "input=[32,32]", "erf=false", "output=null"])
        rf, _ = receptive_field_report(cfg, preset)
        assert 0 < rf.rf_rows <= 32 and 0 < rf.rf_cols <= 32, preset
