"""Issue 21, deliverable 1 for the other tools: convert_checkpoint, compare and gpu_check check their outputs
against their inputs (resolved through symlinks) before any work, and refuse in one line."""

from __future__ import annotations

import pytest

from guard_helpers import copy_run, snapshot
from segfw.analysis.compare import compare, update_document, write_outputs
from segfw.analysis.gpu_check import run_gpu_check
from segfw.apis.convert_checkpoint import convert_checkpoint
from segfw.errors import ConfigError


def test_convert_checkpoint_never_writes_over_its_input(compose, tmp_path):
    source = tmp_path / "mmseg.pth"
    source.write_bytes(b"the reference checkpoint")
    link = tmp_path / "out.pt"
    link.symlink_to(source)
    for output in (source, link):
        overrides = ["from=mmseg", f"input={source}", "model=fcn_r50-d8", f"output={output}", "overwrite=true"]
        with pytest.raises(ConfigError, match=r"output=.* is the input .*mmseg.pth; writing there could replace"):
            convert_checkpoint(compose("convert_checkpoint", overrides), overrides)
    assert source.read_bytes() == b"the reference checkpoint"


def test_compare_never_writes_over_the_runs_it_reads(finished_folder_run, tmp_path):
    run = copy_run(finished_folder_run, tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "comparison.csv").symlink_to(run / "metrics.json")
    before = snapshot(run)
    cmp = compare([run], costs=False)
    with pytest.raises(ConfigError, match=r"--output=.*: comparison.csv is the compared run's file .*metrics.json"):
        write_outputs(cmp, tmp_path / "out", "python tools/compare.py")
    with pytest.raises(ConfigError, match=r"--update=.*metrics.json is not a Markdown file"):
        update_document(run / "metrics.json", "table")
    assert snapshot(run) == before
    assert sorted(write_outputs(cmp, run, "python tools/compare.py")) == ["chart", "csv", "markdown"]


def test_gpu_check_refuses_an_output_that_is_a_file(tmp_path):
    report = tmp_path / "report"
    report.write_text("an earlier report")
    with pytest.raises(ConfigError, match=r"output=.*report is an existing file, not a folder"):
        run_gpu_check({"parts": ["env"]}, report)
    assert report.read_text() == "an earlier report"
