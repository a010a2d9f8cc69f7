"""Reading images and label maps with errors that name the file and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segfw.data.errors import BadSampleError


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise BadSampleError(f"{path}: unreadable or truncated image ({error}); re-copy or remove the file") from None
    return image


def read_image(path: Path) -> np.ndarray:
    """RGB image (H, W, 3) uint8."""
    return np.asarray(_open(Path(path)).convert("RGB"))


def read_label(path: Path) -> np.ndarray:
    """Single-channel label ids (H, W) uint8 (a palette PNG's indices are its ids)."""
    image = _open(Path(path))
    if image.mode in ("RGB", "RGBA"):
        raise BadSampleError(
            f"{path}: label is a colour ({image.mode}) image, but single-channel class ids are expected; "
            "convert it to 8-bit ids (mode L or P), e.g. with tools/convert_dataset.py"
        )
    return np.asarray(image if image.mode in ("L", "P") else image.convert("L"))
