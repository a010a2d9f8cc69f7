"""tools/convert_checkpoint.py: an mmseg checkpoint becomes a segfw checkpoint that tools/eval.py evaluates."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

import mmseg_reference as mm
import segfw
from data_layouts import make_ade20k
from segfw.data.datasets.ade20k import ADE20K_CLASSES, ADE20K_PALETTE
from segfw.engine.checkpoint import model_from_checkpoint
from segfw.apis.convert_checkpoint import convert_checkpoint, read_state_dict
from conftest import run_tool


def test_mmseg_checkpoint_converts_and_evaluates_in_two_commands(tmp_path):
    reference = mm.build_mmseg_model("fcn_r50-d8", num_classes=len(ADE20K_CLASSES))
    source = tmp_path / "fcn_r50-d8_ade20k.pth"
    torch.save({"meta": {"mmseg_version": "1.2.2"}, "state_dict": reference.state_dict()}, source)
    make_ade20k(tmp_path / "data", raw_ids=[0, 1, 2, 3, 13], counts=(("validation", 2),))
    output = tmp_path / "converted.pt"

    result = run_tool("convert_checkpoint.py", "from=mmseg", f"input={source}", "model=fcn_r50-d8",
                      "dataset=ade20k", f"output={output}")
    assert f"wrote {output}" in result.stdout and "tools/eval.py" in result.stdout
    run_tool("eval.py", f"checkpoint={output}", "dataset=ade20k", f"dataset.root={tmp_path / 'data'}", "device=cpu",
             "trainer.num_workers=0", f"output={tmp_path / 'eval.json'}")
    summary = json.loads((tmp_path / "eval.json").read_text())
    assert 0 <= summary["mIoU"] <= 100 and list(summary["per_class"])[:3] == list(ADE20K_CLASSES[:3])

    state = torch.load(output, weights_only=False)
    assert state["classes"] == list(ADE20K_CLASSES) and state["palette"] == ADE20K_PALETTE.tolist()
    model, _, _ = model_from_checkpoint(output)
    images = torch.randn(1, 3, 41, 53)
    with torch.no_grad():
        torch.testing.assert_close(model(images), mm.mmseg_logits(reference, images), rtol=0, atol=1e-4)


def convert(compose, *overrides: str):
    return convert_checkpoint(compose("convert_checkpoint", list(overrides)), list(overrides))


def test_a_checkpoint_for_another_preset_is_one_line_naming_the_keys(tmp_path, compose):
    source = tmp_path / "psp.pth"
    torch.save(mm.build_mmseg_model("pspnet_r50-d8", num_classes=4).state_dict(), source)
    output = tmp_path / "out.pt"
    with pytest.raises(segfw.ConfigError) as error:
        convert(compose, "from=mmseg", f"input={source}", "model=fcn_r50-d8", f"output={output}")
    message = str(error.value)
    assert "\n" not in message and str(source) in message
    assert "missing keys (head.convs.1.0.weight" in message and "unexpected keys (neck.block.branches" in message
    assert not output.exists()


def test_an_existing_output_is_never_overwritten_and_the_preset_must_be_named(tmp_path, compose):
    output = tmp_path / "taken.pt"
    output.write_bytes(b"keep me")
    with pytest.raises(segfw.ConfigError, match="already exists"):
        convert(compose, "from=mmseg", "input=x.pth", "model=fcn_r50-d8", f"output={output}")
    assert output.read_bytes() == b"keep me"
    with pytest.raises(segfw.ConfigError, match="model=pspnet_r50-d8"):
        convert(compose, "from=mmseg", "input=x.pth", f"output={tmp_path / 'new.pt'}")


class Payload:
    def __reduce__(self):
        return (print, ("code from the checkpoint ran",))


def test_input_files_never_run_code_and_bad_files_are_one_line(tmp_path):
    code = tmp_path / "code.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "trap": Payload()}, code)
    with pytest.raises(segfw.ConfigError, match="loads as plain tensors"):
        read_state_dict(code)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(pickle.dumps("not a checkpoint")[:5])
    with pytest.raises(segfw.ConfigError, match="garbage.pth"):
        read_state_dict(garbage)
    with pytest.raises(segfw.ConfigError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")
    empty = tmp_path / "list.pth"
    torch.save([1, 2], empty)
    with pytest.raises(segfw.ConfigError, match="holds no state dict"):
        read_state_dict(empty)
