"""The run folder: chosen once by rank 0, shared with every rank, holding the resolved config."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from segfw.engine.distributed import broadcast_object, is_main_process
from segfw.errors import ConfigError

OUTPUTS = Path("outputs")


def choose_run_dir(cfg: DictConfig) -> Path:
    """``run_dir`` when given; with ``resume=true`` and no run_dir, the newest run of the experiment;
    else a new, freshly created ``outputs/<experiment>/<timestamp>``."""
    if cfg.run_dir:
        return Path(cfg.run_dir).expanduser()
    parent = OUTPUTS / str(cfg.experiment)
    if cfg.resume:
        runs = sorted(p for p in parent.glob("*") if (p / "checkpoints").is_dir()) if parent.is_dir() else []
        if not runs:
            raise ConfigError(f"resume=true, but no run with checkpoints exists under {parent}; give run_dir=PATH")
        return runs[-1]
    return new_run_dir(parent)


def new_run_dir(parent: Path) -> Path:
    """Create and return ``parent/<timestamp>`` (``_1``, ``_2``, ... when taken, even by a concurrent job)."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for n in range(1000):
        candidate = parent / (stamp if n == 0 else f"{stamp}_{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a new run folder under {parent}")


def prepare_run_dir(cfg: DictConfig) -> Path:
    """Rank 0 picks and creates the folder and writes ``config.yaml``; every rank gets the same path."""
    run_dir = None
    if is_main_process():
        run_dir = choose_run_dir(cfg)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        resolved = OmegaConf.to_container(cfg, resolve=True)
        resolved["run_dir"] = str(run_dir)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(resolved))
    return Path(broadcast_object(str(run_dir) if run_dir else None))
