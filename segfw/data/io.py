"""Reading images and label maps with errors that name the file and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segfw.errors import BadSampleError

ID_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B")  # PIL modes holding one id per pixel


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise BadSampleError(f"{path}: file not found")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadSampleError(f"{path}: unreadable or truncated image ({error}); re-copy or remove the file") from None
    return image


def read_image(path: Path) -> np.ndarray:
    """RGB image (H, W, 3) uint8."""
    return np.array(_open(Path(path)).convert("RGB"))  # a writable copy


def read_label(path: Path) -> np.ndarray:
    """Single-channel label ids (H, W): uint8 for 8-bit PNGs (a palette PNG's indices are its ids), int32 for 16-bit."""
    image = _open(Path(path))
    if image.mode not in ID_MODES:
        raise BadSampleError(
            f"{path}: label is a {len(image.getbands())}-channel {image.mode} image (colour-coded?), but "
            "single-channel class ids are expected; save ids as an 8-bit greyscale (L) or palette (P) PNG, "
            "e.g. with tools/convert_dataset.py"
        )
    ids = np.asarray(image)
    return ids.astype(np.uint8) if ids.dtype == bool else ids
