"""``tools/convert_checkpoint.py``: a reference implementation's checkpoint as a segfw checkpoint.

``from=mmseg|spnet input=FILE model=PRESET output=FILE [dataset=NAME]`` reads the file without
running code from it (``torch.load(weights_only=True)``), renames its keys
(:mod:`segfw.models.conversion`), loads them strictly into the preset, and writes the checkpoint
that ``tools/eval.py``, ``infer.py`` and ``export.py`` read: model weights, the run config, and
the dataset's classes and palette when ``dataset=`` is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from segfw.config import TrainConfig
from segfw.engine.checkpoint import save_checkpoint
from segfw.output_guard import Inputs, guard_file
from segfw.engine.data import build_split
from segfw.models.conversion import convert_state
from segfw.models.segmentor import build_segmentor
from segfw.models.state_dict import load_checked
from segfw.errors import ConfigError
from segfw.registry import DATASETS

TOOL_KEYS = ("from", "input", "output", "overwrite")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (a state dict, or a dict holding one under ``state_dict``).

    Loaded with ``weights_only=True``: a file that needs code to unpickle is refused, never run.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"input '{path}' does not exist; give input=FILE, an mmseg or SPNet checkpoint (.pth)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling raises many types
        raise ConfigError(
            f"input '{path}' is not a checkpoint that loads as plain tensors ({type(error).__name__}); "
            "give the .pth file the reference code saved"
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(f"input '{path}' holds no state dict (a mapping of names to tensors)")
    return obj


def _num_classes(state: dict[str, torch.Tensor]) -> int:
    weight = state.get("head.classifier.1.weight")
    if weight is None:
        raise ConfigError("the converted checkpoint has no classifier (head.classifier.1.weight); is it a full model?")
    return int(weight.shape[0])


def dataset_classes(cfg: DictConfig, named: bool, num_classes: int) -> tuple[list[str], list | None]:
    """Class names and palette of ``cfg.dataset`` when the command line named it, else generic names."""
    if not named:
        return [f"class_{i}" for i in range(num_classes)], None
    dataset_type = DATASETS.get(cfg.dataset.name)
    classes, palette = list(getattr(dataset_type, "classes", ())), getattr(dataset_type, "palette", None)
    if not classes:  # read from the data itself (folder: classes.txt; synthetic: generated)
        split = build_split(cfg, "val")
        classes, palette = list(split.classes), split.palette
    if len(classes) != num_classes:
        raise ConfigError(
            f"the checkpoint predicts {num_classes} classes but dataset '{cfg.dataset.name}' has {len(classes)}; "
            "name the dataset the model was trained on"
        )
    return classes, None if palette is None else [list(map(int, c)) for c in palette]


def convert_checkpoint(cfg: DictConfig, overrides: Sequence[str]) -> Path:
    """Convert ``cfg.input`` (``cfg["from"]`` naming) for ``cfg.model`` and write ``cfg.output``; returns it."""
    source, output = cfg.get("from"), cfg.get("output")
    if not source or not cfg.get("input") or not output:
        raise ConfigError("usage: convert_checkpoint.py from=mmseg|spnet input=FILE model=PRESET output=FILE [dataset=NAME]")
    given = {o.split("=", 1)[0] for o in overrides}
    if "model" not in given:
        raise ConfigError("say which preset the checkpoint is, e.g. model=pspnet_r50-d8 (configs/model/)")
    output = guard_file(output, "output", Inputs().file(cfg.input, "input"), bool(cfg.get("overwrite")))
    state = convert_state(source, read_state_dict(cfg.input))
    classes, palette = dataset_classes(cfg, "dataset" in given, _num_classes(state))
    run_cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), {k: v for k, v in cfg.items() if k not in TOOL_KEYS})
    run_cfg.model.backbone.pretrained = None  # the checkpoint holds the weights
    model = build_segmentor(OmegaConf.to_container(run_cfg.model, resolve=True), num_classes=len(classes))
    load_checked(model, state, f"input '{cfg.input}' (from={source}, model={_preset(overrides)})")
    save_checkpoint(output, {
        "model": model.state_dict(),
        "iteration": 0,
        "config": OmegaConf.to_container(run_cfg, resolve=True),
        "classes": classes,
        "palette": palette,
        "converted_from": {"from": source, "input": str(Path(cfg.input).expanduser().resolve())},
    })
    return output


def _preset(overrides: Sequence[str]) -> str:
    return next(o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == "model")
