"""``tools/infer.py``: label maps and overlays for image files, from a checkpoint alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image
from tqdm import tqdm

from segfw.data.datasets.folder import IMAGE_SUFFIXES
from segfw.data.io import read_image
from segfw.data.transforms import build_transforms
from segfw.engine.checkpoint import load_checkpoint, model_from_checkpoint
from segfw.engine.device import resolve_device
from segfw.engine.evaluator import predict_batch
from segfw.engine.saved_run import merge_run_config
from segfw.registry import ConfigError
from segfw.visualize import default_palette, overlay


def list_images(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the images directly inside it (sorted)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"input '{path}' does not exist; give input=IMAGE_FILE or input=FOLDER")
    images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConfigError(f"input folder '{path}' holds no {'/'.join(IMAGE_SUFFIXES)} images")
    return images


def infer_files(cfg: DictConfig, overrides: Sequence[str]) -> list[Path]:
    """Write ``<stem>.png`` (class ids at the input's size, palette PNG) and ``<stem>_overlay.jpg`` per image."""
    if not cfg.get("checkpoint") or not cfg.get("input") or not cfg.get("output"):
        raise ConfigError("usage: tools/infer.py checkpoint=FILE input=FILE_OR_DIR output=DIR")
    device = resolve_device(cfg.device)
    model, run_cfg, classes = model_from_checkpoint(cfg.checkpoint, device)
    palette_list = load_checkpoint(cfg.checkpoint).get("palette")
    palette = np.asarray(palette_list, dtype=np.uint8) if palette_list else default_palette(len(classes))
    settings = merge_run_config(run_cfg, cfg, overrides)
    transform = build_transforms(settings.augment, "val")
    output = Path(cfg.output).expanduser()
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for path in tqdm(list_images(Path(cfg.input).expanduser()), desc="infer", dynamic_ncols=True):
        image = read_image(path)
        tensor = transform(image=image)["image"].unsqueeze(0).to(device)
        labels = predict_batch(model, tensor, image.shape[:2], settings.test)[0].cpu().numpy().astype(np.uint8)
        label_png = Image.fromarray(labels, mode="P")
        label_png.putpalette(palette.flatten().tolist())
        label_png.save(output / f"{path.stem}.png")
        Image.fromarray(overlay(image, labels, palette, cfg.alpha)).save(output / f"{path.stem}_overlay.jpg", quality=90)
        written.append(output / f"{path.stem}.png")
    print(f"wrote {len(written)} label maps and overlays to {output}")
    return written


