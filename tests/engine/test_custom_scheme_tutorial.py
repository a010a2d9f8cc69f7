"""docs/tutorials/custom_scheme.md runs as written: its python blocks, in order, in one namespace (tiny sizes,
CPU, two steps), train a flip-consistency scheme with the engine's loop and built parts and evaluate it."""

from __future__ import annotations

import json
import math
import re

from conftest import REPO

TUTORIAL = REPO / "docs" / "tutorials" / "custom_scheme.md"


def test_the_tutorial_trains_its_scheme(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEGFW_CACHE", str(tmp_path / "cache"))  # the synthetic scenes, drawn on first use
    code = "\n".join(re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.S))
    namespace: dict = {"__name__": "tutorial"}
    exec(compile(code, str(TUTORIAL), "exec"), namespace)
    trainer, result = namespace["trainer"], namespace["result"]
    assert trainer.iteration == 2 and trainer.finished
    assert {"loss_ce", "loss_aux", "loss_consistency"} <= set(trainer.losses)
    assert all(math.isfinite(v) for v in trainer.losses.values()) and trainer.losses["loss_consistency"] > 0
    records = [json.loads(line) for line in (tmp_path / "outputs/flip_consistency/scalars.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and "train/loss_consistency" in records[-1]
    assert 0.0 <= result.summary["mIoU"] <= 100.0 and (tmp_path / "outputs/flip_consistency/model.pt").is_file()
