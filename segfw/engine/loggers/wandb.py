"""Weights & Biases (the official ``wandb`` package, ``pip install 'segfw[wandb]'``), offline by default.

The run lives in ``run_dir/wandb/`` (``offline-run-<time>-<id>/run-<id>.wandb``); its id is kept in
``run_dir/wandb_id.txt``, so ``resume=true`` continues the same W&B run. Upload offline runs later with
``wandb sync <run_dir>/wandb/offline-run-*`` (every part of a resumed run goes to the same run id), or log
live with ``mode: online`` (after ``wandb login``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from segfw.engine.loggers.base import Logger, require
from segfw.registry import LOGGERS


@LOGGERS.register("wandb")
class WandbLogger(Logger):
    """A W&B run: scalars and images in its history, the resolved config as its config, the final metrics
    and hyper-parameters in its summary. ``mode``: offline | online | disabled; ``run_name``: the run's display
    name (default: the run folder's name)."""

    def __init__(self, run_dir: Path, resume: bool = False, project: str = "segfw", entity: str | None = None,
                 run_name: str | None = None, mode: str = "offline", tags: list[str] | None = None):
        wandb = require("wandb", "wandb")
        self.wandb, run_dir = wandb, Path(run_dir)
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            dir=str(run_dir), project=project, entity=entity, name=run_name or run_dir.name, id=run_id,
            resume="allow", mode=mode, tags=list(tags or []), reinit="create_new",
            settings=wandb.Settings(console="off", save_code=False, disable_git=True, x_disable_stats=True,
                                    silent=True),
        )

    def config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self.run.log(dict(values), step=step)

    def images(self, images: Mapping[str, np.ndarray], step: int) -> None:
        self.run.log({tag: self.wandb.Image(image) for tag, image in images.items()}, step=step)

    def final(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        self.run.summary.update({**{f"hparam/{k}": v for k, v in metrics.items()}})

    def close(self) -> None:
        self.run.finish()
