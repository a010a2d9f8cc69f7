"""One structured schema per tool: a tool's config holds only the keys that tool reads.

A typo, or a key the tool does not read (``tools/export.py trainer.max_iters=5``), is an error naming
the key (see :mod:`segfw.cli`). ``model``, ``dataset``, ``augment``, ``optimizer`` and ``scheduler`` are
free-form nodes checked by the registries (unknown component names and keywords fail there);
everything else is typed here.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

from segfw import constants
from segfw.constants import IGNORE_INDEX
from segfw.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"  # the repository's configs/
CONFIGS_ENV = "SEGFW_CONFIGS"  # more config folders (os.pathsep-separated), searched after CONFIG_DIR


def config_search_path() -> list[Path]:
    """:data:`CONFIG_DIR`, then the folders of ``$SEGFW_CONFIGS`` (a plugin's YAML files, laid out as configs/:
    ``optimizer/<name>.yaml``, ``trainer/hook/<name>.yaml``, ...; see :func:`segfw.autoimport.import_plugins`)."""
    extra = [Path(part).expanduser().resolve() for part in os.environ.get(CONFIGS_ENV, "").split(os.pathsep) if part]
    for folder in extra:
        if not folder.is_dir():
            raise ConfigError(f"{CONFIGS_ENV} names {folder}, which is not a folder; give config folders laid out "
                              f"as configs/ (optimizer/<name>.yaml, trainer/hook/<name>.yaml, ...)")
    return [CONFIG_DIR, *extra]


def search_path_overrides() -> list[str]:
    """The Hydra override that adds ``$SEGFW_CONFIGS`` to a tool's config search path (none without it)."""
    extra = config_search_path()[1:]
    return [f"hydra.searchpath=[{','.join(f'file://{folder}' for folder in extra)}]"] if extra else []


# trainer.<kind>.<name> holds the keys of each component listed in these trainer keys (configs/trainer/<kind>/)
COMPONENT_LISTS = {"hook": ("hooks", "extra_hooks"), "logger": ("loggers",)}


def component_file(kind: str, name: str) -> Path | None:
    """``trainer/<kind>/<name>.yaml`` (``kind``: hook, logger) in the first folder of the search path holding it."""
    return next((path for folder in config_search_path() if (path := folder / "trainer" / kind / f"{name}.yaml").is_file()),
                None)


def with_component_settings(cfg: DictConfig) -> DictConfig:
    """``cfg`` with ``trainer.hook.<name>`` and ``trainer.logger.<name>`` for every listed hook and logger: the
    keys of its :func:`component_file` under those already set. The built-in ones are composed already; this adds
    a plugin's (and those of a run saved before the keys existed), so the run's ``config.yaml`` holds every value
    the run used."""
    t = cfg.trainer
    with open_dict(t):
        for kind, keys in COMPONENT_LISTS.items():
            for entry in [entry for key in keys for entry in (t.get(key) or [])]:
                name = entry if isinstance(entry, str) else entry.get("name")
                path = component_file(kind, name) if isinstance(name, str) else None
                if path is not None:
                    if t.get(kind) is None:
                        t[kind] = {}
                    t[kind][name] = OmegaConf.merge(OmegaConf.load(path), t[kind].get(name) or {})
    return cfg


# The trainer's defaults have one source, configs/trainer/default.yaml (commented there); the schemas below take
# their types from the dataclasses and their values from that file (a field it lacks fails at import).
TRAINER_DEFAULTS: dict[str, Any] = {k: v for k, v in OmegaConf.to_container(
    OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml")).items() if k != "defaults"}


def trainer_default(key: str) -> Any:
    """A dataclass field whose default is ``key`` (dotted: ``ema.decay``) of configs/trainer/default.yaml."""
    value = OmegaConf.select(OmegaConf.create(TRAINER_DEFAULTS), key, throw_on_missing=True)
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    return field(default_factory=lambda: copy.deepcopy(value))


@dataclass
class EMAConfig:
    """``trainer.ema``: an exponential moving average of the weights, evaluated and saved as ``checkpoints/ema.pt``."""

    enabled: bool = trainer_default("ema.enabled")
    decay: float = trainer_default("ema.decay")
    start_iter: int = trainer_default("ema.start_iter")


@dataclass
class TrainerConfig:
    """``trainer``: the keys and their types; values and their meaning: configs/trainer/default.yaml."""

    max_iters: int = trainer_default("max_iters")
    eval_interval: int = trainer_default("eval_interval")
    batch_size: int = trainer_default("batch_size")
    crop_size: list[int] = trainer_default("crop_size")
    num_workers: int = trainer_default("num_workers")
    log_interval: int = trainer_default("log_interval")
    amp: bool = trainer_default("amp")
    amp_dtype: str = trainer_default("amp_dtype")
    grad_clip: Optional[float] = trainer_default("grad_clip")
    accumulate: int = trainer_default("accumulate")
    channels_last: bool = trainer_default("channels_last")
    reuse_cpu_memory: bool = trainer_default("reuse_cpu_memory")
    activation_checkpointing: list[str] = trainer_default("activation_checkpointing")
    compile: bool = trainer_default("compile")
    sync_bn: bool = trainer_default("sync_bn")
    deterministic: bool = trainer_default("deterministic")
    num_vis_images: int = trainer_default("num_vis_images")
    keep_checkpoints: int = trainer_default("keep_checkpoints")
    checkpoint_interval: int = trainer_default("checkpoint_interval")
    max_bad_steps: int = trainer_default("max_bad_steps")
    best_metric: str = trainer_default("best_metric")
    best_mode: str = trainer_default("best_mode")
    ema: EMAConfig = field(default_factory=EMAConfig)
    hooks: list[Any] = trainer_default("hooks")  # names (HOOKS) or {name: ..., **kwargs} nodes
    extra_hooks: list[Any] = trainer_default("extra_hooks")
    loggers: list[Any] = trainer_default("loggers")  # names (LOGGERS) or nodes
    # each hook's and logger's keys by name, composed from configs/trainer/{hook,logger}/<name>.yaml:
    # trainer.hook.early_stopping.patience=5, trainer.logger.mlflow.tracking_uri=http://localhost:5000
    hook: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestConfig:
    mode: str = "whole"  # whole | slide
    crop_size: Optional[list[int]] = None
    stride: Optional[list[int]] = None
    scales: list[float] = field(default_factory=lambda: [1.0])
    flip: bool = False
    batch_size: int = 4  # images per forward pass in evaluation (consecutive images of equal size only)
    window_batch: int = 8  # slide mode: crops per forward pass


@dataclass
class TrainConfig:
    """``tools/train.py``."""

    experiment: str = "default"
    run_dir: Optional[str] = None
    resume: bool = False  # continue run_dir (or the experiment's newest run) with its saved config
    overwrite: bool = False  # train into a run_dir holding checkpoints, deleting them
    resume_allow_changes: bool = False  # let resume=true change the model or trainer.max_iters
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    ignore_index: int = IGNORE_INDEX  # label of pixels neither trained on nor scored (datasets, loss, padding, metrics)
    model: Any = MISSING
    dataset: Any = MISSING
    augment: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    test: TestConfig = field(default_factory=TestConfig)


@dataclass
class SavedRunConfig:
    """What every tool that uses a trained model reads: which model (a run folder or a checkpoint)."""

    run_dir: Optional[str] = None
    checkpoint: Optional[str] = None


@dataclass
class EvalTrainerConfig:
    """The ``trainer`` keys evaluation reads (overrides of the run's saved values)."""

    num_workers: int = trainer_default("num_workers")
    amp: bool = trainer_default("amp")
    amp_dtype: str = trainer_default("amp_dtype")
    channels_last: bool = trainer_default("channels_last")  # NHWC layout (same results within fp32 rounding, faster)


@dataclass
class SavedModelConfig:
    """The ``model`` keys a trained model may change without retraining."""

    threshold: float = 0.5  # binary mode: foreground where its probability >= threshold


@dataclass
class EvalConfig(SavedRunConfig):
    """``tools/eval.py``: the run's saved settings, overridden key by key by the command line."""

    device: str = "auto"
    output: Optional[str] = None
    save_predictions: Optional[str] = None
    overwrite: bool = False  # replace existing output / save_predictions files
    ignore_index: int = IGNORE_INDEX  # the label the dataset writes for ignored pixels; the metrics skip it
    model: SavedModelConfig = field(default_factory=SavedModelConfig)
    dataset: Any = MISSING
    augment: Any = MISSING
    test: TestConfig = field(default_factory=TestConfig)
    trainer: EvalTrainerConfig = field(default_factory=EvalTrainerConfig)


@dataclass
class InferConfig(SavedRunConfig):
    """``tools/infer.py``."""

    device: str = "auto"
    input: Optional[str] = None
    output: Optional[str] = None
    overwrite: bool = False  # replace existing files in output
    alpha: float = 0.5
    model: SavedModelConfig = field(default_factory=SavedModelConfig)
    augment: Any = MISSING
    test: TestConfig = field(default_factory=TestConfig)


@dataclass
class ExportConfig(SavedRunConfig):
    """``tools/export.py`` (always on the CPU)."""

    format: str = "onnx"  # onnx | torchscript
    output: Optional[str] = None
    overwrite: bool = False  # replace an existing output file
    input_size: list[int] = field(default_factory=lambda: [512, 512])  # [H, W] of the example input


@dataclass
class BenchmarkConfig:
    """``tools/benchmark.py``."""

    model: Any = MISSING
    device: str = "auto"
    ignore_index: int = IGNORE_INDEX  # what the preset's loss ignores (in the timed training step)
    input: list[int] = field(default_factory=lambda: [512, 512])  # [H, W]
    batch_size: int = 2
    warmup: int = 2
    repeats: int = 5
    num_classes: int = 19
    channels_last: bool = True  # NHWC, as the trainer, evaluation and inference run by default


@dataclass
class ReceptiveFieldConfig:
    """``tools/receptive_field.py``."""

    model: Any = MISSING
    ignore_index: int = IGNORE_INDEX  # what the preset's loss ignores (the loss is built, never used)
    input: list[int] = field(default_factory=lambda: [256, 256])  # [H, W]
    checkpoint: Optional[str] = None
    output: Optional[str] = "receptive_field"
    overwrite: bool = False
    erf: bool = True
    inputs: int = 2
    positions: int = 3
    seed: int = 0
    num_classes: int = 19


@dataclass
class CompareConfig:
    """``tools/compare.py``."""

    runs: list[str] = MISSING
    baseline: Optional[str] = None
    classes: Optional[list[str]] = None
    output: Optional[str] = None
    update: Optional[str] = None
    costs: bool = True
    metrics: Optional[list[str]] = None
    receptive_field: Optional[str] = None


@dataclass
class GpuCheckLimits:
    """Seconds each part of ``tools/gpu_check.py`` may run (``train``: per preset)."""

    env: int = 60
    train: int = 120
    torchrun: int = 120
    eval: int = 90
    cuda_tests: int = 180
    peers: int = 150


@dataclass
class GpuCheckConfig:
    """``tools/gpu_check.py`` (the values: configs/gpu_check.yaml)."""

    device: str = "cuda"
    output: Optional[str] = None
    work_dir: Optional[str] = None
    parts: list[str] = MISSING
    presets: list[str] = MISSING
    precisions: list[str] = MISSING
    layouts: list[str] = MISSING
    compile: bool = True
    compile_presets: list[str] = MISSING
    compile_settings: list[str] = MISSING
    crop_size: list[int] = MISSING
    batch_size: int = 8
    iters: int = 5
    num_workers: int = 4
    overrides: list[str] = field(default_factory=list)
    peer_families: list[str] = MISSING
    peer_variants: list[str] = MISSING
    peer_repeats: int = 5
    limits: GpuCheckLimits = field(default_factory=GpuCheckLimits)


@dataclass
class BrowseTrainerConfig:
    """The ``trainer`` keys browsing reads: the crop size the recipes interpolate, the loader workers."""

    crop_size: list[int] = trainer_default("crop_size")
    num_workers: int = trainer_default("num_workers")


@dataclass
class BrowseConfig:
    """``tools/browse_dataset.py``."""

    seed: int = 0
    ignore_index: int = IGNORE_INDEX  # the label the dataset writes for ignored pixels and the crops pad with
    dataset: Any = MISSING
    augment: Any = MISSING
    trainer: BrowseTrainerConfig = field(default_factory=BrowseTrainerConfig)
    n: int = 16  # samples in the grid
    split: str = "train"  # train: training pipeline; val: evaluation pipeline (mask at its original size)
    output: str = "browse.png"
    overwrite: bool = False  # replace an existing output file
    columns: int = 4
    alpha: float = 0.5  # opacity of the label colours


@dataclass
class BenchmarkDataConfig:
    """``tools/benchmark_data.py`` (the values: configs/benchmark_data.yaml)."""

    workers: list[int] = MISSING
    images: int = MISSING
    batch_size: int = MISSING
    batches: int = MISSING


@dataclass
class BenchmarkModulesConfig:
    """``tools/benchmark_modules.py`` (the values: configs/benchmark_modules.yaml)."""

    necks: Optional[list[str]] = MISSING
    sizes: list[int] = MISSING
    channels: int = MISSING
    batch: int = MISSING
    device: str = MISSING
    warmup: int = MISSING
    repeats: int = MISSING
    threads: Optional[int] = MISSING
    timeout: float = MISSING
    memory_limit_gib: Optional[float] = MISSING
    plot: Optional[str] = MISSING
    in_process: bool = MISSING


@dataclass
class BenchmarkPeersConfig:
    """``tools/benchmark_peers.py`` (the values: configs/benchmark_peers.yaml)."""

    families: list[str] = MISSING
    variants: list[str] = MISSING
    input: list[int] = MISSING
    batch: int = MISSING
    classes: int = MISSING
    device: str = MISSING
    warmup: int = MISSING
    repeats: int = MISSING
    memory: bool = MISSING


@dataclass
class BenchmarkEvalConfig(TrainConfig):
    """``tools/benchmark_eval.py``: a training run's config (model, dataset, test, device) and ``rounds``."""

    rounds: int = MISSING


@dataclass
class ConvertDatasetConfig:
    """``tools/convert_dataset.py`` (the values: configs/convert_dataset.yaml)."""

    name: Optional[str] = MISSING
    root: Optional[str] = MISSING
    sbd_root: Optional[str] = MISSING
    workers: Optional[int] = MISSING


# ``from`` is a Python keyword, so this schema is a mapping rather than a dataclass.
CONVERT_CHECKPOINT_SCHEMA = {
    "from": None,  # mmseg | spnet
    "input": None,
    "output": None,
    "overwrite": False,  # replace an existing output file
    "ignore_index": IGNORE_INDEX,
    "model": MISSING,
    "dataset": MISSING,
    "augment": MISSING,
    "test": TestConfig,
}

SCHEMAS = {
    "train": TrainConfig,
    "eval": EvalConfig,
    "infer": InferConfig,
    "export": ExportConfig,
    "benchmark": BenchmarkConfig,
    "receptive_field": ReceptiveFieldConfig,
    "compare": CompareConfig,
    "gpu_check": GpuCheckConfig,
    "browse": BrowseConfig,
    "convert_checkpoint": CONVERT_CHECKPOINT_SCHEMA,
    "benchmark_data": BenchmarkDataConfig,
    "benchmark_modules": BenchmarkModulesConfig,
    "benchmark_peers": BenchmarkPeersConfig,
    "benchmark_eval": BenchmarkEvalConfig,
    "convert_dataset": ConvertDatasetConfig,
}


# What ``${segfw.constant:NAME}`` in a YAML file reads: the one definition of each shared value (segfw.constants).
CONSTANTS = {"AUX_WEIGHT": constants.AUX_WEIGHT, "IGNORE_INDEX": constants.IGNORE_INDEX}


def constant(name: str) -> Any:
    if name not in CONSTANTS:
        raise ConfigError(f"${{segfw.constant:{name}}} names no constant; choose one of {', '.join(CONSTANTS)}")
    return CONSTANTS[name]


def register_schemas() -> None:
    """Make ``<tool>_schema`` available to the defaults list of each ``configs/<tool>.yaml``, and the
    ``segfw.constant`` resolver to every YAML file (e.g. ``aux_weight: ${segfw.constant:AUX_WEIGHT}``)."""
    if not OmegaConf.has_resolver("segfw.constant"):
        OmegaConf.register_new_resolver("segfw.constant", constant)
    store = ConfigStore.instance()
    for tool, schema in SCHEMAS.items():
        store.store(name=f"{tool}_schema", node=schema)


def compose_config(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """``configs/<config_name>.yaml`` with command-line ``overrides``, composed as that tool composes it: from
    :data:`CONFIG_DIR` (the config search path of every tool), against the tool's schema. E.g. the defaults of
    a neck: ``compose_config("train", ["model/neck=ppm"]).model.neck``."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name=config_name, overrides=[*overrides, *search_path_overrides()])
