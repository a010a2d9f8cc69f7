"""Loading a checkpoint never runs code from it (issue 9, item 1): crafted files are refused with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, tiny_overrides
from segfw.engine.checkpoint import load_checkpoint
from segfw.errors import ConfigError


class WritesMarker:
    """Unpickling this object runs ``os.system`` (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted_checkpoint(genuine: Path, target: Path, marker: Path) -> Path:
    """A copy of a genuine checkpoint with a code payload hidden in it."""
    state = torch.load(genuine, weights_only=True)
    state["model"]["payload"] = WritesMarker(marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, target)
    return target


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> Path:
    from hydra import compose, initialize_config_dir

    from segfw.config import register_schemas
    from segfw.apis.train import train

    tmp = tmp_path_factory.mktemp("safe_load")
    register_schemas()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        train(compose("train", tiny_overrides(tmp, **{"trainer.max_iters": "1", "trainer.eval_interval": "1"})))
    return tmp / "run" / "checkpoints" / "last.pt"


def test_a_genuine_checkpoint_loads_with_weights_only(genuine):
    state = torch.load(genuine, weights_only=True)  # raises if anything but tensors and plain values
    assert state["iteration"] == 1 and isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)


def test_a_crafted_checkpoint_is_refused_before_its_code_runs(genuine, tmp_path):
    marker = tmp_path / "marker"
    crafted = crafted_checkpoint(genuine, tmp_path / "best.pt", marker)
    with pytest.raises(ConfigError, match=r"refused: it holds a reference to code \(posix.system\)") as caught:
        load_checkpoint(crafted)
    assert "\n" not in str(caught.value)
    assert not marker.exists()


def test_foreign_and_truncated_files_are_one_line(genuine, tmp_path):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(ConfigError, match="is not a segfw checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "cut.pt").write_bytes(genuine.read_bytes()[:1000])
    with pytest.raises(ConfigError, match="cannot be read") as caught:
        load_checkpoint(tmp_path / "cut.pt")
    assert "\n" not in str(caught.value)


def test_infer_export_and_resume_refuse_the_crafted_file(genuine, tmp_path, compose):
    from segfw.apis.export import export_checkpoint
    from segfw.apis.infer import infer_files
    from segfw.apis.train import train

    marker = tmp_path / "marker"
    crafted = crafted_checkpoint(genuine, tmp_path / "evil" / "best.pt", marker)
    run = tmp_path / "run"
    crafted_checkpoint(genuine, run / "checkpoints" / "last.pt", marker)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "photo.png").write_bytes(b"never read: the checkpoint is refused first")
    calls = {
        "infer": lambda: infer_files(compose("infer", [f"checkpoint={crafted}", f"input={tmp_path / 'images'}",
                                                       f"output={tmp_path / 'out'}", "device=cpu"]), []),
        "export": lambda: export_checkpoint(compose("export", [f"checkpoint={crafted}",
                                                                f"output={tmp_path / 'model.onnx'}"])),
        "resume": lambda: train(compose("train", tiny_overrides(tmp_path, run_dir=str(run), resume="true"))),
    }
    for name, call in calls.items():
        with pytest.raises(ConfigError, match=r"refused: .*posix\.system"):
            call()
    assert not marker.exists()


def test_eval_tool_refuses_the_crafted_file_with_one_line(genuine, tmp_path):
    """The real tool: exit 2, one line on stderr, no traceback, the payload never ran."""
    marker = tmp_path / "marker"
    crafted = crafted_checkpoint(genuine, tmp_path / "evil" / "best.pt", marker)
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run([sys.executable, str(REPO / "tools" / "eval.py"), f"checkpoint={crafted}", "device=cpu"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and "posix.system" in lines[0], result.stderr
    assert not marker.exists()


def test_weights_that_do_not_match_the_saved_config_are_one_line(genuine):
    from segfw.engine.checkpoint import model_from_state

    state = torch.load(genuine, weights_only=True)
    name = next(iter(state["model"]))
    state["model"][name] = torch.zeros(3)
    with pytest.raises(ConfigError, match="weights do not match the model its config describes") as caught:
        model_from_state(state)
    assert "\n" not in str(caught.value)
