"""The run folder: chosen once by rank 0, shared with every rank, locked, and never clobbered.

- A new run gets ``outputs/<experiment>/<timestamp>``; ``run_dir=PATH`` names one.
- A folder that already holds a run (``checkpoints/`` or segfw's ``config.yaml``) is only trained in with
  ``resume=true`` (continue it) or ``overwrite=true`` (replace it: the old run's files are deleted only
  once the new launch has passed every check, :meth:`RunFolder.replace_previous_run`, so old and new
  curves never mix and a refused launch deletes nothing); ``resume=true`` without ``run_dir`` picks the
  newest run of the experiment that has a checkpoint.
- A non-empty folder that is not a run, a file, or a folder at, inside or above the dataset root is refused.
- One training per folder (:class:`segfw.run_lock.RunLock`); temporary files left by killed atomic writes
  (``.<name>.<random>.tmp``) in the folder and its ``checkpoints/`` are removed once the lock is held.
- A launch that fails (or gets SIGTERM) before its first checkpoint removes the folder it created
  (nothing is left to resume from, and ``resume=true`` would otherwise pick an empty folder).
"""

from __future__ import annotations

import shutil
import signal
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from segfw.atomic_write import WriteError, describe_write_failure, is_stale_temporary, sweep_stale_temporaries, write_text
from segfw.engine.distributed import broadcast_object, is_main_process
from segfw.errors import ConfigError
from segfw.output_guard import Inputs, resolve
from segfw.run_lock import LOCK_NAME, RunLock

OUTPUTS = Path("outputs")
CHECKPOINT_GLOB = "*.pt"


def has_checkpoint(folder: Path) -> bool:
    return (folder / "checkpoints").is_dir() and any((folder / "checkpoints").glob(CHECKPOINT_GLOB))


def holds_run_config(folder: Path) -> bool:
    """Whether ``folder/config.yaml`` is one segfw wrote for a run (a mapping with run_dir, model and trainer)."""
    try:
        saved = OmegaConf.load(folder / "config.yaml")
    except Exception:  # noqa: BLE001 - absent, unreadable or not YAML: not a run's config
        return False
    return OmegaConf.is_dict(saved) and all(key in saved for key in ("run_dir", "model", "trainer"))


def is_run_folder(folder: Path) -> bool:
    """A segfw run: a ``checkpoints/`` folder or segfw's ``config.yaml``."""
    return (folder / "checkpoints").is_dir() or holds_run_config(folder)


def own_entries(folder: Path) -> list[Path]:
    """What ``folder`` holds besides a run lock and temporary files of killed writes."""
    return [p for p in folder.iterdir() if p.name != LOCK_NAME and not is_stale_temporary(p)] if folder.is_dir() else []


def check_not_in_dataset(folder: Path, cfg: DictConfig) -> None:
    """Refuse a run folder at or inside the dataset root (its symlinked folders too), or holding it."""
    dataset = cfg.get("dataset")
    given = None
    for key in ("root", "cache_dir"):
        if dataset is not None and key in dataset and not OmegaConf.is_missing(dataset, key) and dataset.get(key):
            given = dataset.get(key)
            break
    if not given:
        return
    where = Inputs().folder(given, "dataset root").owner(resolve(folder))
    if where is None and resolve(folder) in resolve(given).parents:
        where = f"holds the dataset root {given}"
    if where:
        raise ConfigError(f"run_dir={folder} {where}; a run folder there could replace your files: "
                          "give run_dir= a folder outside the dataset")


def check_new_run_folder(folder: Path, cfg: DictConfig) -> None:
    """A run_dir a new (not resumed) run may train in: absent, empty, or a run to replace with overwrite=true."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"run_dir={folder} is a file, not a folder; give run_dir= a new or empty folder")
    entries = own_entries(folder)
    if not entries:
        return
    if not is_run_folder(folder):
        shown = ", ".join(sorted(p.name for p in entries)[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConfigError(f"run_dir={folder} holds files that are not a segfw run ({shown}); nothing was changed: "
                          "give run_dir= a new or empty folder")
    if not cfg.get("overwrite"):
        what = "a trained run (checkpoints/)" if has_checkpoint(folder) else "a run (config.yaml)"
        raise ConfigError(f"run_dir={folder} already holds {what}; continue it with resume=true, replace it with "
                          "overwrite=true, or give another run_dir")


def choose_run_dir(cfg: DictConfig) -> tuple[Path, bool]:
    """``(folder, whether it must be created)``: ``run_dir`` when given; with ``resume=true`` and no run_dir, the
    newest run of the experiment that holds a checkpoint; else a new ``outputs/<experiment>/<timestamp>``."""
    if cfg.run_dir:
        folder = Path(cfg.run_dir).expanduser()
        check_not_in_dataset(folder, cfg)
        if cfg.resume and not has_checkpoint(folder):
            raise ConfigError(f"resume=true, but {folder / 'checkpoints'} holds no checkpoint; drop resume=true "
                              "to start a new run there")
        if not cfg.resume:
            check_new_run_folder(folder, cfg)
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
            check_not_in_dataset(candidate, cfg)
            return candidate, True
    raise ConfigError(f"cannot find a free run folder name under {parent}")


class RunFolder:
    """``with RunFolder(cfg) as folder:`` the checked, locked run folder (``folder.path``) on every rank.

    On exit with an exception (SIGTERM included: until the trainer's own handler takes over, it raises
    ``SystemExit(143)``), a folder this launch created and that holds no checkpoint is removed.
    With ``overwrite=true`` the previous run stays until :meth:`replace_previous_run`.
    """

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.created = False
        self.lock: RunLock | None = None
        self.path = Path()
        self.replacing = False  # overwrite=true on a folder holding a run: delete it once every check passed
        self._sigterm = None

    def __enter__(self) -> RunFolder:
        result: dict = {}
        failure: Exception | None = None
        self._catch_sigterm()
        if is_main_process():
            try:
                self.path, create = choose_run_dir(self.cfg)
                if create:
                    self.path.mkdir(parents=True, exist_ok=False)
                    self.created = True
                self.lock = RunLock(self.path).acquire()
                sweep_stale_temporaries(self.path, self.path / "checkpoints")
                self.replacing = bool(self.cfg.get("overwrite")) and not self.cfg.resume and bool(own_entries(self.path))
                result = {"path": str(self.path)}
            except (ConfigError, OSError) as error:
                self._cleanup()
                if isinstance(error, OSError):
                    error = WriteError(describe_write_failure(self.path, error))
                failure, result = error, {"error": str(error)}
        result = broadcast_object(result)  # every rank learns the folder, or that rank 0 refused it
        if failure is not None:
            self._restore_sigterm()
            raise failure
        if "error" in result:
            self._restore_sigterm()
            raise ConfigError(result["error"])
        self.path = Path(result["path"])
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._restore_sigterm()
        if is_main_process():
            self._cleanup(failed=exc_type is not None)

    def _catch_sigterm(self) -> None:
        """SIGTERM during start-up ends the process through Python (exit 143), so ``__exit__`` cleans up."""
        def stop(signum, _frame):
            raise SystemExit(128 + signum)

        try:
            self._sigterm = signal.signal(signal.SIGTERM, stop)
        except ValueError:  # not the main thread: signals cannot be caught here
            self._sigterm = None

    def _restore_sigterm(self) -> None:
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)
            self._sigterm = None

    def replace_previous_run(self) -> None:
        """``overwrite=true``: delete the previous run's files (all but the lock), once the new launch has passed
        every check (rank 0; called by the trainer right before it writes ``config.yaml``)."""
        if not (self.replacing and is_main_process()):
            return
        entries = own_entries(self.path)
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        self.replacing = False
        print(f"overwrite=true: removed the previous run from {self.path} ({len(entries)} entries)")

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
