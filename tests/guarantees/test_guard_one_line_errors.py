"""One line where one line is promised (issue 21, defect 11): test.batch_size=0|-1 in train and eval, eval with
trainer.num_workers=-1, a checkpoint whose config lacks the backbone, out of memory, and an output folder
that is a regular file; each was a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from segfw.apis.evaluate import evaluate_checkpoint
from segfw.apis.run import Run
from segfw.cli import user_errors_as_one_line
from segfw.engine.config_checks import check_train_config
from segfw.errors import ConfigError


@pytest.mark.parametrize("value", ["0", "-1"])
def test_train_refuses_test_batch_size(compose, tmp_path, value):
    with pytest.raises(ConfigError, match=rf"test.batch_size={value} is invalid: give a whole number >= 1"):
        check_train_config(compose("train", [f"test.batch_size={value}", f"run_dir={tmp_path / 'run'}"]))


@pytest.fixture
def weightless_checkpoint(compose, tmp_path):
    """A checkpoint with a real config and classes but no weights: the checks must come before the model."""
    config = OmegaConf.to_container(compose("train", ["device=cpu"]), resolve=True)
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save({"model": {}, "config": config, "classes": ["a", "b"], "iteration": 1}, path)
    return path


@pytest.mark.parametrize("override, message", [
    ("test.batch_size=-1", "test.batch_size=-1 is invalid"),
    ("test.batch_size=0", "test.batch_size=0 is invalid"),
    ("trainer.num_workers=-1", "trainer.num_workers=-1 is invalid: give a whole number >= 0"),
])
def test_eval_refuses_bad_settings_before_the_model_runs(compose, weightless_checkpoint, override, message):
    overrides = [f"checkpoint={weightless_checkpoint}", "device=cpu", override]
    with pytest.raises(ConfigError, match=message):
        evaluate_checkpoint(compose("eval", overrides), overrides)


def test_a_checkpoint_without_backbone_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "edited.pt"
    torch.save({"model": {}, "config": {"model": {"head": {"name": "fcn"}}}, "classes": ["a"]}, path)
    with pytest.raises(ConfigError) as caught:
        Run.locate(checkpoint=path).build_model()
    assert str(caught.value).startswith(f"{path}: its saved config lacks 'backbone'")


def one_line_of(fn, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        user_errors_as_one_line(fn)()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 1536000000000 bytes"),
    MemoryError(),
])
def test_out_of_memory_is_one_line_naming_the_knobs(capsys, error):
    def tool():
        raise error

    assert "out of memory" in (line := one_line_of(tool, capsys)) and "test.batch_size" in line


def test_an_output_folder_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "predictions").write_text("not a folder")
    line = one_line_of(lambda: (tmp_path / "predictions").mkdir(parents=True, exist_ok=True), capsys)
    assert line.startswith(f"error: {tmp_path / 'predictions'}: a file is where a folder is expected")
    line = one_line_of(lambda: (tmp_path / "predictions" / "a.png").write_bytes(b""), capsys)
    assert f"{tmp_path / 'predictions' / 'a.png'}: a file is where a folder is expected" in line


def test_a_bug_keeps_its_traceback():
    def tool():
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        user_errors_as_one_line(tool)()
