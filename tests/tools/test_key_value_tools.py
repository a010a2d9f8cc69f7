"""The former argparse tools speak the Hydra tools' dialect: ``key=value`` overrides of configs/<tool>.yaml checked
against the tool's schema, ``--help`` listing the keys, and the old ``--flag value`` spellings translated with one
deprecation line."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import REPO
from segfw.cli import legacy_flags

TOOLS = ["benchmark_data", "benchmark_eval", "benchmark_modules", "benchmark_peers", "convert_dataset"]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_old_spellings_become_overrides_with_one_deprecation_line(capsys):
    argv = ["--sizes", "32", "64", "--batch-size", "4", "--no-memory", "--repeats", "1", "test.flip=true"]
    fields, lists = ["sizes", "batch_size", "memory", "repeats"], ["sizes"]
    assert legacy_flags(argv, fields, lists) == ["sizes=[32,64]", "batch_size=4", "memory=false", "repeats=1",
                                                 "test.flip=true"]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("deprecated: '--sizes 32 64' is now 'sizes=[32,64]'")
    assert legacy_flags(["voc_aug", "/v", "/s", "--workers", "2"], ["name", "root", "sbd_root", "workers"],
                        positional=("name", "root", "sbd_root")) == ["name=voc_aug", "root=/v", "sbd_root=/s", "workers=2"]
    assert legacy_flags(["sizes=[5]", "--help"], ["sizes"]) == ["sizes=[5]", "--help"]  # new spellings pass as given


@pytest.mark.parametrize("name", TOOLS)
def test_help_lists_the_keys_and_a_typo_is_one_line(name, capsys):
    tool = load(name)
    tool.main(["--help"])
    out = capsys.readouterr().out
    assert f"keys (configs/{name}.yaml)" in out
    with pytest.raises(SystemExit) as exit_info:
        tool.main(["repeatz=3"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: tools/{name}.py does not read 'repeatz'")
