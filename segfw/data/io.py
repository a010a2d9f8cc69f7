"""Reading images and label maps with errors that name the file and the fix.

- EXIF orientation is applied to images and labels alike (a phone photo is read as it is shown), so
  a label drawn on the shown image lines up; :func:`exif_orientation` lets a size mismatch say so.
- 16-bit greyscale images are scaled to 8 bits by their full 0..65535 range (the high byte, as Pillow
  reads 16-bit RGB PNGs), not clipped to black and white.
- Images of other channel counts (``channels`` != 3: RGB + near-infrared, multispectral) and TIFF
  images keep their values: uint8 stays uint8, 16-bit/float become float32, channels last; the
  augment recipe normalises them per channel (``augment=multichannel`` with ``dataset.mean/std``).
- Labels must be lossless: a JPEG (by content, whatever its name) is refused, since its compression
  invents ids along every edge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from segfw.errors import BadSampleError

ID_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B")  # PIL modes holding one id per pixel
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I")  # one-channel modes with more than 8 bits
ORIENTATION_TAG = 0x0112
TIFF_SUFFIXES = (".tif", ".tiff")
LOSSY_FORMATS = ("JPEG", "MPO")  # JPEG-compressed files (MPO: multi-picture JPEG from cameras)


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise BadSampleError(f"{path}: file not found")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadSampleError(f"{path}: unreadable or truncated image ({error}); re-copy or remove the file") from None
    return image


def exif_orientation(path: Path) -> int:
    """The EXIF orientation tag of ``path`` (1 = as stored; 2..8 = mirrored and/or rotated when shown)."""
    try:
        with Image.open(path) as image:
            return int(image.getexif().get(ORIENTATION_TAG, 1))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 1


def _upright(image: Image.Image) -> Image.Image:
    """``image`` as it is shown: its EXIF orientation applied (and the tag removed)."""
    if int(image.getexif().get(ORIENTATION_TAG, 1)) == 1:
        return image
    return ImageOps.exif_transpose(image)


def _to_uint8(path: Path, image: Image.Image) -> Image.Image:
    """A 16-bit greyscale image scaled to 8 bits by its full range (its high byte); others unchanged."""
    if image.mode not in SIXTEEN_BIT_MODES:
        return image
    values = np.asarray(image).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise BadSampleError(f"{path}: {image.mode} image holds values outside 0..65535; save it as 8- or 16-bit")
    return Image.fromarray((values >> 8).astype(np.uint8))  # (H, W) uint8: mode L


def read_image(path: Path, channels: int = 3) -> np.ndarray:
    """The image as (H, W, channels), upright (EXIF orientation applied).

    3-channel non-TIFF files: RGB uint8, 16-bit greyscale scaled to 8-bit (greyscale and palette
    images are converted to RGB). TIFF files or ``channels`` != 3: the stored values, channels last,
    uint8 kept and any other type as float32; a file with another channel count is a BadSampleError
    naming both counts.
    """
    path = Path(path)
    if channels == 3 and path.suffix.lower() not in TIFF_SUFFIXES:
        return np.array(_to_uint8(path, _upright(_open(path))).convert("RGB"))  # a writable copy
    values = _read_tiff(path, channels) if path.suffix.lower() in TIFF_SUFFIXES else np.array(_upright(_open(path)))
    values = values[..., None] if values.ndim == 2 else values
    if values.ndim != 3 or values.shape[-1] != channels:
        found = 1 if values.ndim == 2 else values.shape[-1]
        raise BadSampleError(
            f"{path}: image has {found} channel(s) (shape {values.shape}), but dataset.channels={channels}; "
            "set dataset.channels to the images' channel count (the model's first conv follows)"
        )
    return np.ascontiguousarray(values if values.dtype == np.uint8 else values.astype(np.float32))


def _read_tiff(path: Path, channels: int) -> np.ndarray:
    """A TIFF's first image as (H, W) or (H, W, C); a planar (C, H, W) file is moved to channels last."""
    import tifffile

    if not path.is_file():
        raise BadSampleError(f"{path}: file not found")
    try:
        values = tifffile.imread(path, key=0)
    except Exception as error:  # tifffile raises many types for damaged files
        raise BadSampleError(f"{path}: unreadable TIFF ({type(error).__name__}: {error}); re-copy or remove the file") from None
    if values.ndim == 3 and values.shape[0] == channels and values.shape[-1] != channels:
        values = np.moveaxis(values, 0, -1)
    return values


def read_label(path: Path) -> np.ndarray:
    """Single-channel label ids (H, W), upright (EXIF orientation applied): uint8 for 8-bit PNGs (a palette
    PNG's indices are its ids), int32 for 16-bit. A JPEG-compressed label is refused."""
    path = Path(path)
    image = _open(path)
    if image.format in LOSSY_FORMATS:
        raise BadSampleError(
            f"{path}: label is a {image.format} file{' despite its name' if path.suffix.lower() == '.png' else ''}; "
            "lossy compression changes class ids along every edge: save labels as PNG from the original ids"
        )
    if image.mode not in ID_MODES:
        raise BadSampleError(
            f"{path}: label is a {len(image.getbands())}-channel {image.mode} image (colour-coded?), but "
            "single-channel class ids are expected; save ids as an 8-bit greyscale (L) or palette (P) PNG, "
            "e.g. with tools/convert_dataset.py"
        )
    ids = np.asarray(_upright(image))
    return ids.astype(np.uint8) if ids.dtype == bool else ids
