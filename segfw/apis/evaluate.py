"""``tools/eval.py``: score a trained model on a dataset split with the configured test protocol."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from segfw.apis.run import Run
from segfw.atomic_write import atomic_write, write_text
from segfw.distance_metrics import format_distance_table
from segfw.engine import distributed as dist_utils
from segfw.engine.data import build_eval_loader, build_split
from segfw.engine.config_checks import check_eval_settings
from segfw.engine.cpu_allocator import set_cpu_allocator
from segfw.engine.device import autocast_dtype, memory_format, resolve_device
from segfw.engine.evaluator import evaluate
from segfw.errors import ConfigError
from segfw.output_guard import Inputs, guard_file, guard_folder
from segfw.metrics import format_table


def prediction_writer(dataset, folder: Path):
    """``on_prediction`` callback writing each prediction as a label PNG in the dataset's official ids (atomically:
    a file that is there is replaced whole or not at all)."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(pred, batch, i) -> None:
        name = batch["name"][i]
        labels = dataset.encode_prediction(pred.cpu().numpy().astype(np.uint8))
        path = folder / dataset.prediction_filename(name)
        atomic_write(path, lambda tmp: Image.fromarray(labels, mode="L").save(tmp, format="PNG"))

    return write


def check_outputs(cfg: DictConfig, dataset, checkpoint: Path, default_output: Path) -> Path:
    """Check ``output=`` and every file ``save_predictions=`` will hold against the checkpoint, the dataset
    (root and resolved files) and existing files (see :mod:`segfw.output_guard`), before the evaluation runs;
    returns the summary's path. The default ``<run>/eval.json`` is the run's latest evaluation and is replaced."""
    inputs = Inputs().file(checkpoint, "checkpoint").dataset(dataset)
    overwrite = bool(cfg.get("overwrite"))
    if cfg.get("save_predictions"):
        names = [dataset.prediction_filename(sample.name) for sample in dataset.samples]
        guard_folder(cfg.save_predictions, "save_predictions", inputs, names, overwrite)
    if cfg.get("output"):
        return guard_file(cfg.output, "output", inputs, overwrite)
    return guard_file(default_output, "output", inputs, overwrite=True)


def evaluate_checkpoint(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict:
    """Evaluate ``run_dir``'s or ``checkpoint``'s model on the run's settings with ``overrides`` (the command
    line's keys, taken from ``cfg``) merged in; writes ``eval.json`` and returns the summary."""
    device = resolve_device(cfg.device, dist_utils.local_rank())
    dist_utils.init_distributed(device)
    try:
        run = Run.locate(cfg.get("run_dir"), cfg.get("checkpoint"))
        settings = run.settings(cfg, overrides)
        check_eval_settings(settings)
        dataset = build_split(settings, "val")
        output = check_outputs(cfg, dataset, run.checkpoint, run.folder / "eval.json")
        checkpoint, model, classes = run.checkpoint, run.build_model(device, settings.model), run.classes
        model = model.to(memory_format=memory_format(cfg.trainer.channels_last))
        if device.type == "cpu":
            set_cpu_allocator("reuse")
        if list(dataset.classes) != classes:
            raise ConfigError(
                f"the model was trained on {len(classes)} classes ({', '.join(classes[:5])}, ...) but dataset "
                f"'{settings.dataset.name}' has {dataset.num_classes}; evaluate on a dataset with the same classes"
            )
        on_prediction = prediction_writer(dataset, Path(cfg.save_predictions)) if cfg.get("save_predictions") else None
        amp = autocast_dtype(device, settings.trainer.amp, settings.trainer.amp_dtype)
        loader = build_eval_loader(dataset, settings.trainer.num_workers, settings.test.get("batch_size", 1))
        result = evaluate(model, loader, classes, device, settings.test, amp, on_prediction=on_prediction)
        if dist_utils.is_main_process():
            print(f"{checkpoint} on {settings.dataset.name} ({len(dataset)} images, test.mode={settings.test.mode})")
            print(format_table(result.summary))
            if "distance" in result.summary:
                print(format_distance_table(result.summary))
            write_text(output, json.dumps(result.summary, indent=2))
            print(f"wrote {output}")
        return result.summary
    finally:
        dist_utils.shutdown_distributed()
