"""``tools/eval.py``: score a trained model on a dataset split with the configured test protocol."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from segfw.apis.run import Run
from segfw.atomic_write import write_text
from segfw.engine import distributed as dist_utils
from segfw.engine.data import build_eval_loader, build_split
from segfw.engine.config_checks import check_eval_settings
from segfw.engine.cpu_allocator import set_cpu_allocator
from segfw.engine.device import autocast_dtype, memory_format, resolve_device
from segfw.engine.evaluator import evaluate
from segfw.errors import ConfigError
from segfw.output_guard import refuse_output_inside_inputs
from segfw.metrics import format_table


def prediction_writer(dataset, folder: Path):
    """``on_prediction`` callback writing each prediction as a label PNG in the dataset's official ids."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(pred, batch, i) -> None:
        name = batch["name"][i]
        labels = dataset.encode_prediction(pred.cpu().numpy().astype(np.uint8))
        path = folder / dataset.prediction_filename(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels, mode="L").save(path)

    return write


def evaluate_checkpoint(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict:
    """Evaluate ``run_dir``'s or ``checkpoint``'s model on the run's settings with ``overrides`` (the command
    line's keys, taken from ``cfg``) merged in; writes ``eval.json`` and returns the summary."""
    device = resolve_device(cfg.device, dist_utils.local_rank())
    dist_utils.init_distributed(device)
    try:
        run = Run.locate(cfg.get("run_dir"), cfg.get("checkpoint"))
        settings = run.settings(cfg, overrides)
        check_eval_settings(settings)
        checkpoint, model, classes = run.checkpoint, run.build_model(device, settings.model), run.classes
        model = model.to(memory_format=memory_format(cfg.trainer.channels_last))
        if device.type == "cpu":
            set_cpu_allocator("reuse")
        dataset = build_split(settings, "val")
        for option in ("save_predictions", "output"):
            if cfg.get(option):
                refuse_output_inside_inputs(cfg.get(option), option, {"dataset root": dataset.root})
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
            output = Path(cfg.output) if cfg.get("output") else run.folder / "eval.json"
            write_text(output, json.dumps(result.summary, indent=2))
            print(f"wrote {output}")
        return result.summary
    finally:
        dist_utils.shutdown_distributed()
