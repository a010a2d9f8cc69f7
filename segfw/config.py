"""Structured schema of the top-level configs: a typo in a key is an error that names the key.

``model``, ``dataset``, ``augment``, ``optimizer`` and ``scheduler`` are free-form nodes checked
by the registries (unknown component names and keywords fail there); ``trainer`` and ``test``
are typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"  # the repository's configs/


@dataclass
class TrainerConfig:
    max_iters: int = 800
    eval_interval: int = 200
    batch_size: int = 8  # per process
    crop_size: list[int] = field(default_factory=lambda: [128, 128])
    num_workers: int = 2
    log_interval: int = 10
    amp: bool = False
    amp_dtype: str = "bf16"  # bf16 | fp16 (fp16 only on CUDA, with a GradScaler)
    grad_clip: Optional[float] = None
    accumulate: int = 1
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = True
    deterministic: bool = False
    num_vis_images: int = 4
    keep_checkpoints: int = 1
    checkpoint_interval: int = 0  # 0: only at evaluations and at the end
    max_bad_steps: int = 0  # steps with a nan/inf loss skipped before the run stops (0: stop at the first)


@dataclass
class TestConfig:
    mode: str = "whole"  # whole | slide
    crop_size: Optional[list[int]] = None
    stride: Optional[list[int]] = None
    scales: list[float] = field(default_factory=lambda: [1.0])
    flip: bool = False


@dataclass
class TrainConfig:
    experiment: str = "default"
    run_dir: Optional[str] = None
    resume: bool = False  # continue run_dir (or the experiment's newest run) with its saved config
    overwrite: bool = False  # train into a run_dir holding checkpoints, deleting them
    resume_allow_changes: bool = False  # let resume=true change the model or trainer.max_iters
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    model: Any = MISSING
    dataset: Any = MISSING
    augment: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    test: TestConfig = field(default_factory=TestConfig)


@dataclass
class EvalConfig(TrainConfig):
    checkpoint: Optional[str] = None
    output: Optional[str] = None
    save_predictions: Optional[str] = None


@dataclass
class InferConfig(TrainConfig):
    checkpoint: Optional[str] = None
    input: Optional[str] = None
    output: Optional[str] = None
    alpha: float = 0.5


@dataclass
class BenchmarkConfig(TrainConfig):
    input: list[int] = field(default_factory=lambda: [512, 512])  # [H, W]
    batch_size: int = 2
    warmup: int = 2
    repeats: int = 5
    num_classes: int = 19


@dataclass
class ExportConfig(TrainConfig):
    checkpoint: Optional[str] = None
    format: str = "onnx"  # onnx | torchscript
    output: Optional[str] = None
    input_size: list[int] = field(default_factory=lambda: [512, 512])  # [H, W] of the example input


def register_schemas() -> None:
    """Make the schemas available to the defaults lists of configs/{train,eval,infer}.yaml."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="eval_schema", node=EvalConfig)
    store.store(name="infer_schema", node=InferConfig)
    store.store(name="benchmark_schema", node=BenchmarkConfig)
    store.store(name="export_schema", node=ExportConfig)
