"""tools/export.py: a checkpoint from a real tiny training run, exported and checked in onnxruntime / TorchScript."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import CONFIGS, REPO, tiny_overrides
from hydra import compose, initialize_config_dir

from segfw.apis.export import export_checkpoint, export_model
from segfw.apis.train import train
from segfw.config import register_schemas
from segfw.engine.checkpoint import model_from_checkpoint
from segfw.models.segmentor import build_segmentor
from segfw.errors import ConfigError


def composed(config_name: str, overrides: list[str]):
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        return compose(config_name=config_name, overrides=overrides)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """``last.pt`` of a 2-iteration CPU training on the tiny synthetic set."""
    tmp = tmp_path_factory.mktemp("trained")
    train(composed("train", tiny_overrides(tmp)))
    return tmp / "run" / "checkpoints" / "last.pt"


def test_onnx_tool_exports_dynamic_sizes_and_prints_parity(checkpoint, tmp_path):
    output = tmp_path / "model.onnx"
    command = [sys.executable, str(REPO / "tools" / "export.py"), f"checkpoint={checkpoint}", "format=onnx",
               f"output={output}", "input_size=[32,48]"]
    done = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"wrote {output} (onnx, dynamic batch, height and width)" in done.stdout
    parity = [line for line in done.stdout.splitlines() if line.startswith("parity onnxruntime vs PyTorch")]
    assert [line.split(",")[1].split(":")[0] for line in parity] == [" input 1x3x32x48", " input 2x3x25x39"]

    assert max(entry.version for entry in onnx.load(str(output)).opset_import if entry.domain == "") >= 17
    model, _, classes = model_from_checkpoint(checkpoint)
    x = torch.randn(3, 3, 21, 37, generator=torch.Generator().manual_seed(5))  # a size the tool did not check
    got = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == (3, len(classes), 21, 37)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_export_reloads_with_the_same_logits(checkpoint, tmp_path):
    cfg = composed("export", [f"checkpoint={checkpoint}", "format=torchscript", f"output={tmp_path / 'm.pt'}",
                              "input_size=[32,48]"])
    report = export_checkpoint(cfg)
    assert report.dynamic and set(report.max_abs_diff) == {"1x3x32x48", "2x3x25x39"}
    model, _, _ = model_from_checkpoint(checkpoint)
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    x = torch.randn(1, 3, 19, 29, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=1e-5)


def test_adaptive_pooling_falls_back_to_a_fixed_onnx_shape(tmp_path):
    """PPM's adaptive pooling exports with kernels fixed for the example size: the parity check at a
    second size catches it, and the file is re-exported for the example's shape only."""
    torch.manual_seed(0)
    model_cfg = {"backbone": {"name": "resnet18", "output_stride": 32, "pretrained": None},
                 "neck": {"name": "ppm", "bins": [1, 2, 3, 6], "channels": 8}, "head": {"name": "fcn", "channels": 8}}
    report = export_model(build_segmentor(model_cfg, num_classes=3), "onnx", tmp_path / "ppm.onnx", (64, 64))
    assert not report.dynamic and "re-exported for input 1x3x64x64 only" in report.note
    assert list(report.max_abs_diff) == ["1x3x64x64"] and report.max_abs_diff["1x3x64x64"] < 1e-4
    session = ort.InferenceSession(str(tmp_path / "ppm.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        session.run(None, {"images": np.zeros((1, 3, 48, 48), np.float32)})


def test_unknown_format_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="format=tflite is not supported; use format=onnx or format=torchscript"):
        export_model(torch.nn.Conv2d(3, 2, 1), "tflite", tmp_path / "x", (8, 8))
