"""The README as a new user meets it: its first-hour commands run as written (tiny overrides appended),
its Python API example runs, and every `python tools/...` line in README.md and docs/ composes."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, tiny_overrides

# adding_a_block.md's commands use the block its tutorial writes (squeeze_excitation), which does not ship.
DOCS = [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "adding_a_block.md")]
TOOL_CONFIGS = {"train.py": "train", "eval.py": "eval", "infer.py": "infer", "export.py": "export",
                "benchmark.py": "benchmark", "browse_dataset.py": "browse"}


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """Each command of a bash block as argv: continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def tool_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        for block in blocks(doc.read_text(), "bash"):
            for argv in commands(block):
                if argv[:1] == ["python"] and len(argv) > 1 and argv[1].startswith("tools/"):
                    found.append((doc.name, argv))
    return found


def first_of_sweep(override: str) -> str:
    """``key=a,b`` (a --multirun sweep) → ``key=a``; lists in brackets are kept."""
    key, sep, value = override.partition("=")
    depth, cut = 0, len(value)
    for i, char in enumerate(value):
        depth += char in "[{("
        depth -= char in "]})"
        if char == "," and depth == 0:
            cut = i
            break
    return f"{key}{sep}{value[:cut]}"


def compose(tool: Path, config: str, overrides: list[str]) -> None:
    """Compose ``config`` as ``tool`` does (its module-level code registers the schemas it uses)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    runpy.run_path(str(tool), run_name="compose_only")
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        hydra_compose(config_name=config, overrides=overrides,
                      return_hydra_config=any(o.startswith("hydra") for o in overrides))


@pytest.mark.parametrize("doc,argv", tool_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_documented_tool_command_composes(doc, argv):
    """Overrides in the docs name real keys, groups and options (what `--cfg job` would print)."""
    tool = Path(argv[1]).name
    assert (REPO / argv[1]).is_file(), f"{doc}: {argv[1]} does not exist"
    if tool not in TOOL_CONFIGS:
        return
    overrides, skip = [], False
    for arg in argv[2:]:
        if arg.startswith("-"):  # Hydra flags (--help, --multirun, --cfg job)
            skip = arg in ("--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-dir", "-cd")
            continue
        if not skip:
            overrides.append(first_of_sweep(arg) if "--multirun" in argv or "-m" in argv else arg)
        skip = False
    compose(REPO / argv[1], TOOL_CONFIGS[tool], overrides)


def _with(argv: list[str], extra: list[str]) -> list[str]:
    """``argv`` with ``extra`` overrides appended, each replacing the command's own value of that key."""
    keys = {e.split("=", 1)[0] for e in extra}
    return [a for a in argv if a.split("=", 1)[0] not in keys] + extra


@pytest.mark.slow
def test_first_hour_commands_and_python_example_run_as_written(tmp_path):
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(REPO)}
    tiny = [o for o in tiny_overrides(tmp_path) if not o.startswith("run_dir=")]
    iterations = iter(["trainer.max_iters=2", "trainer.max_iters=4"])
    for argv in commands(blocks(section("The first hour"), "bash")[0]):
        if argv[1:2] == ["tools/train.py"]:
            argv = _with(argv, [*tiny, next(iterations)])
        elif argv[1:2] == ["tools/eval.py"]:
            argv = _with(argv, ["device=cpu"])
        argv = [sys.executable, *(str(REPO / a) if a.startswith("tools/") else a for a in argv[1:])]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    run = tmp_path / "outputs" / "exp1"
    assert (run / "checkpoints" / "best.pt").is_file() and (run / "eval.json").is_file()

    example = blocks(section("Python API"), "python")[0]
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(96, 128) (8, 96, 128)" in done.stdout
