"""One structured schema per tool: a tool's config holds only the keys that tool reads.

A typo, or a key the tool does not read (``tools/export.py trainer.max_iters=5``), is an error naming
the key (see :mod:`segfw.cli`). ``model``, ``dataset``, ``augment``, ``optimizer`` and ``scheduler`` are
free-form nodes checked by the registries (unknown component names and keywords fail there);
everything else is typed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from segfw.constants import IGNORE_INDEX, TRAINER_HOOKS, TRAINER_LOGGERS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"  # the repository's configs/


@dataclass
class EMAConfig:
    """``trainer.ema``: an exponential moving average of the weights, evaluated and saved as ``checkpoints/ema.pt``."""

    enabled: bool = False
    decay: float = 0.999  # ema = decay * ema + (1 - decay) * weights, after every step
    start_iter: int = 0  # until this iteration the average is the weights themselves


@dataclass
class TrainerConfig:
    max_iters: int = 800
    eval_interval: int = 200
    batch_size: int = 8  # per process
    crop_size: list[int] = field(default_factory=lambda: [128, 128])
    num_workers: int = 2
    log_interval: int = 10
    amp: bool = False
    amp_dtype: str = "auto"  # auto (bf16 where native, else fp16 on CUDA) | bf16 | fp16 (CUDA only, with a GradScaler)
    grad_clip: Optional[float] = None
    accumulate: int = 1
    channels_last: bool = True  # NHWC weights and activations: faster, same results within fp32 rounding
    reuse_cpu_memory: bool = True  # glibc keeps freed blocks for the next step (no page faults), same results
    activation_checkpointing: list[str] = field(default_factory=list)  # parts: backbone, neck, head, aux_head
    compile: bool = False
    sync_bn: bool = True
    deterministic: bool = False
    num_vis_images: int = 4
    keep_checkpoints: int = 1
    checkpoint_interval: int = 0  # 0: only at evaluations and at the end
    max_bad_steps: int = 0  # steps with a nan/inf loss skipped before the run stops (0: stop at the first)
    best_metric: str = "mIoU"  # what best.pt keeps: a mean (mIoU, mDice, aAcc, ...) or <table>/<class> (per_class_dice/pole)
    best_mode: str = "max"  # max | min
    ema: EMAConfig = field(default_factory=EMAConfig)
    # hooks by name (HOOKS) or {name: ..., **kwargs} nodes, in the order they run after each step
    hooks: list[Any] = field(default_factory=lambda: list(TRAINER_HOOKS))
    extra_hooks: list[Any] = field(default_factory=list)  # appended after trainer.hooks: trainer.extra_hooks=[my_probe]
    loggers: list[Any] = field(default_factory=lambda: list(TRAINER_LOGGERS))  # LOGGERS: tensorboard, jsonl, csv, wandb, mlflow


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

    num_workers: int = 2
    amp: bool = False
    amp_dtype: str = "auto"
    channels_last: bool = True  # NHWC layout (same results within fp32 rounding, faster)


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
    alpha: float = 0.5
    model: SavedModelConfig = field(default_factory=SavedModelConfig)
    augment: Any = MISSING
    test: TestConfig = field(default_factory=TestConfig)


@dataclass
class ExportConfig(SavedRunConfig):
    """``tools/export.py`` (always on the CPU)."""

    format: str = "onnx"  # onnx | torchscript
    output: Optional[str] = None
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

    crop_size: list[int] = field(default_factory=lambda: [128, 128])
    num_workers: int = 2


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
    columns: int = 4
    alpha: float = 0.5  # opacity of the label colours


# ``from`` is a Python keyword, so this schema is a mapping rather than a dataclass.
CONVERT_CHECKPOINT_SCHEMA = {
    "from": None,  # mmseg | spnet
    "input": None,
    "output": None,
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
}


def register_schemas() -> None:
    """Make ``<tool>_schema`` available to the defaults list of each ``configs/<tool>.yaml``."""
    store = ConfigStore.instance()
    for tool, schema in SCHEMAS.items():
        store.store(name=f"{tool}_schema", node=schema)


def compose_config(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """``configs/<config_name>.yaml`` with command-line ``overrides``, composed as that tool composes it: from
    :data:`CONFIG_DIR` (the config search path of every tool), against the tool's schema. E.g. the defaults of
    a neck: ``compose_config("train", ["model/neck=ppm"]).model.neck``."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides))
