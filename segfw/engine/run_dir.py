"""The run folder: chosen once by rank 0, shared with every rank, locked, and never clobbered.

- A new run gets ``outputs/<experiment>/<timestamp>``; ``run_dir=PATH`` names one.
- A folder that already holds checkpoints is only trained in with ``resume=true`` (continue it) or
  ``overwrite=true`` (its checkpoints are deleted first); ``resume=true`` without ``run_dir`` picks the
  newest run of the experiment that has a checkpoint.
- One training per folder (:class:`segfw.run_lock.RunLock`).
- A launch that fails before its first checkpoint removes the folder it created (nothing is left to
  resume from, and ``resume=true`` would otherwise pick an empty folder).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from segfw.atomic_write import WriteError, describe_write_failure, write_text
from segfw.engine.distributed import broadcast_object, is_main_process
from segfw.errors import ConfigError
from segfw.run_lock import RunLock

OUTPUTS = Path("outputs")
CHECKPOINT_GLOB = "*.pt"


def has_checkpoint(folder: Path) -> bool:
    return (folder / "checkpoints").is_dir() and any((folder / "checkpoints").glob(CHECKPOINT_GLOB))


def choose_run_dir(cfg: DictConfig) -> tuple[Path, bool]:
    """``(folder, whether it must be created)``: ``run_dir`` when given; with ``resume=true`` and no run_dir, the
    newest run of the experiment that holds a checkpoint; else a new ``outputs/<experiment>/<timestamp>``."""
    if cfg.run_dir:
        folder = Path(cfg.run_dir).expanduser()
        if cfg.resume and not has_checkpoint(folder):
            raise ConfigError(f"resume=true, but {folder / 'checkpoints'} holds no checkpoint; drop resume=true "
                              "to start a new run there")
        if not cfg.resume and has_checkpoint(folder) and not cfg.get("overwrite"):
            raise ConfigError(f"run_dir={folder} already holds a trained run (checkpoints/); continue it with "
                              "resume=true, replace it with overwrite=true, or give another run_dir")
        return folder, not folder.exists()
    parent = OUTPUTS / str(cfg.experiment)
    if cfg.resume:
        runs = sorted(p for p in parent.glob("*") if has_checkpoint(p)) if parent.is_dir() else []
        if not runs:
            raise ConfigError(f"resume=true, but no run with a checkpoint exists under {parent}; give run_dir=PATH")
        return runs[-1], False
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for n in range(1000):
        candidate = parent / (stamp if n == 0 else f"{stamp}_{n}")
        if not candidate.exists():
            return candidate, True
    raise ConfigError(f"cannot find a free run folder name under {parent}")


class RunFolder:
    """``with RunFolder(cfg) as folder:`` the checked, locked run folder (``folder.path``) on every rank.

    On exit with an exception, a folder this launch created and that holds no checkpoint is removed.
    """

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.created = False
        self.lock: RunLock | None = None
        self.path = Path()

    def __enter__(self) -> RunFolder:
        result: dict = {}
        failure: Exception | None = None
        if is_main_process():
            try:
                self.path, create = choose_run_dir(self.cfg)
                if create:
                    self.path.mkdir(parents=True, exist_ok=False)
                    self.created = True
                self.lock = RunLock(self.path).acquire()
                if self.cfg.get("overwrite") and not self.cfg.resume:
                    shutil.rmtree(self.path / "checkpoints", ignore_errors=True)  # the user asked: a fresh run
                result = {"path": str(self.path)}
            except (ConfigError, OSError) as error:
                self._cleanup()
                if isinstance(error, OSError):
                    error = WriteError(describe_write_failure(self.path, error))
                failure, result = error, {"error": str(error)}
        result = broadcast_object(result)  # every rank learns the folder, or that rank 0 refused it
        if failure is not None:
            raise failure
        if "error" in result:
            raise ConfigError(result["error"])
        self.path = Path(result["path"])
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if is_main_process():
            self._cleanup(failed=exc_type is not None)

    def _cleanup(self, failed: bool = True) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if failed and self.created and not has_checkpoint(self.path):
            shutil.rmtree(self.path, ignore_errors=True)
            self.created = False

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def write_config(self, cfg: DictConfig) -> None:
        """Save the resolved config (rank 0), once the run has been checked: ``config.yaml``."""
        if not is_main_process():
            return
        resolved = OmegaConf.to_container(cfg, resolve=True)
        resolved["run_dir"] = str(self.path)
        write_text(self.path / "config.yaml", OmegaConf.to_yaml(resolved))
