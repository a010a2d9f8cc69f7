"""``tools/infer.py``: label maps and overlays for image files, from a checkpoint alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image
from tqdm import tqdm

from segfw.apis.run import Run
from segfw.data.datasets.base import by_stem
from segfw.data.datasets.folder import IMAGE_SUFFIXES
from segfw.data.io import read_image
from segfw.data.transforms import build_transforms
from segfw.engine.cpu_allocator import set_cpu_allocator
from segfw.engine.device import memory_format, resolve_device
from segfw.engine.evaluator import predict_batch
from segfw.errors import ConfigError
from segfw.atomic_write import atomic_write
from segfw.output_guard import Inputs, guard_folder
from segfw.visualize import overlay


def list_images(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the images directly inside it (sorted)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"input '{path}' does not exist; give input=IMAGE_FILE or input=FOLDER")
    images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConfigError(f"input folder '{path}' holds no {'/'.join(IMAGE_SUFFIXES)} images")
    by_stem(images, "images")  # s03.jpg and s03.png would both write s03.png
    return images


def output_names(image: Path) -> tuple[str, str]:
    """The files infer writes for ``image``: its label map and its overlay."""
    return f"{image.stem}.png", f"{image.stem}_overlay.jpg"


def check_outputs(cfg: DictConfig, images: list[Path]) -> Path:
    """The ``output=`` folder, checked file by file against the input folder, the input images (resolved through
    symlinks), the checkpoint and existing files (``overwrite=true`` replaces them) before any image is read."""
    source = Path(cfg.input).expanduser()
    inputs = Inputs().folder(source if source.is_dir() else source.parent, "input", cfg.input)
    inputs.file(cfg.get("checkpoint"), "checkpoint")
    for image in images:
        inputs.file(image, "input image")
    names = [name for image in images for name in output_names(image)]
    return guard_folder(cfg.output, "output", inputs, names, bool(cfg.get("overwrite")))


def infer_files(cfg: DictConfig, overrides: Sequence[str] = ()) -> list[Path]:
    """Write ``<stem>.png`` (class ids at the input's size, palette PNG) and ``<stem>_overlay.jpg`` per image."""
    if not (cfg.get("checkpoint") or cfg.get("run_dir")) or not cfg.get("input") or not cfg.get("output"):
        raise ConfigError("usage: tools/infer.py checkpoint=FILE (or run_dir=PATH) input=FILE_OR_DIR output=DIR")
    images = list_images(Path(cfg.input).expanduser())
    output = check_outputs(cfg, images)
    device = resolve_device(cfg.device)
    run = Run.locate(cfg.get("run_dir"), cfg.get("checkpoint"))
    settings = run.settings(cfg, overrides)
    model, palette = run.build_model(device, settings.model), run.palette
    model = model.to(memory_format=memory_format(True))  # NHWC: same results within fp32 rounding, faster
    if device.type == "cpu":
        set_cpu_allocator("reuse")
    transform = build_transforms(settings.augment, "val")
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for path in tqdm(images, desc="infer", dynamic_ncols=True):
        image = read_image(path, int(settings.dataset.get("channels", 3)))
        tensor = transform(image=image)["image"].unsqueeze(0).to(device)
        labels = predict_batch(model, tensor, image.shape[:2], settings.test)[0].cpu().numpy().astype(np.uint8)
        label_png = Image.fromarray(labels, mode="P")
        label_png.putpalette(palette.flatten().tolist())
        label_name, overlay_name = output_names(path)
        atomic_write(output / label_name, lambda tmp: label_png.save(tmp, format="PNG"))
        shown = Image.fromarray(overlay(image, labels, palette, cfg.alpha))
        atomic_write(output / overlay_name, lambda tmp: shown.save(tmp, format="JPEG", quality=90))
        written.append(output / label_name)
    print(f"wrote {len(written)} label maps and overlays to {output}")
    return written


