"""docs/adding_a_block.md's engine parts as a user adds them, outside the repository: its eight files (a logger,
a hook, an optimizer, a scheduler, each one module plus one YAML) written as documented into a temporary folder,
imported through ``SEGFW_PLUGINS`` / ``SEGFW_CONFIGS``, and a ``tools/train.py`` run using all four (and
``early_stopping`` with its keys), each seen to take effect in the run folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from conftest import REPO, tiny_overrides
from segfw.autoimport import import_plugins
from segfw.config import config_search_path
from segfw.errors import ConfigError

DOC = REPO / "docs" / "adding_a_block.md"


def documented_files() -> dict[str, str]:
    """``{relative path: text}`` of every python/yaml block of the engine section whose first line is ``# <path>``."""
    section = DOC.read_text().split("## Engine parts", 1)[1]
    found = {}
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", section, flags=re.S):
        first, _, rest = block.partition("\n")
        if re.fullmatch(r"# [\w/]+\.(py|yaml)", first):
            found[first[2:]] = rest if first.endswith(".py") else block
    return found


def run_tool(argv, env):
    result = subprocess.run([sys.executable, *argv], cwd=REPO, text=True, capture_output=True, timeout=600,
                            env={"NO_ALBUMENTATIONS_UPDATE": "1", **os.environ, **env})
    return result


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    plugins = tmp_path_factory.mktemp("my_plugins")
    files = documented_files()
    assert len(files) == 8, sorted(files)
    for relative, text in files.items():
        (plugins / relative).parent.mkdir(parents=True, exist_ok=True)
        (plugins / relative).write_text(text)
    modules = sorted(path[:-3] for path in files if path.endswith(".py"))
    return {"PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", str(REPO))]),
            "SEGFW_PLUGINS": ",".join(modules), "SEGFW_CONFIGS": str(plugins / "configs")}


def test_four_plugins_train_through_tools_train(plugin_env, tmp_path):
    overrides = tiny_overrides(tmp_path, **{
        "optimizer": "sign_sgd", "optimizer.lr": "0.02", "scheduler": "step_decay",
        "trainer.loggers": "[jsonl,text]", "trainer.extra_hooks": "[lr_probe,early_stopping]",
        "+trainer.hook.lr_probe.every": "1", "trainer.max_iters": "4", "trainer.eval_interval": "1",
        # early stopping with its YAML keys overridden: an improvement must exceed 2.0, so it stops at step 2
        "trainer.hook.early_stopping.patience": "1", "trainer.hook.early_stopping.min_delta": "2.0"})
    result = run_tool([str(REPO / "tools" / "train.py"), *overrides], plugin_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = tmp_path / "run"
    probe = [json.loads(line) for line in (run / "lr_probe.jsonl").read_text().splitlines()]  # the YAML's file name
    assert [p["iteration"] for p in probe] == [1, 2]  # early stopping ended the run after step 2 of 4
    assert "early stopping at iteration 2" in result.stdout
    assert {p["optimizer"] for p in probe} == {"SignSGD"}
    assert [p["lr"] for p in probe] == pytest.approx([0.01, 0.005])  # 0.02 * 0.5 ** step (step_decay.yaml)
    lines = [line.split() for line in (run / "curves.txt").read_text().splitlines()]  # text.yaml's file name
    assert lines[0][0] == "1" and {"train/loss", "val/mIoU"} <= {tag for _, tag, _ in lines}
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=False)["iteration"] == 2
    saved = (run / "config.yaml").read_text()
    assert "lr_probe.jsonl" in saved and "curves.txt" in saved  # the plugins' settings are saved with the run


def test_a_bad_plugin_name_or_config_folder_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGFW_PLUGINS", "text_loger")
    with pytest.raises(ConfigError, match="SEGFW_PLUGINS=text_loger names 'text_loger', which is not importable"):
        import_plugins()
    monkeypatch.setenv("SEGFW_CONFIGS", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="SEGFW_CONFIGS names .*nowhere, which is not a folder"):
        config_search_path()
