"""Every image and label of a split checked from its header and a cheap scan, before any training step.

Per sample: the image opens and is whole (PNG chunks and their CRCs, a JPEG's end marker or else a
full decode, a TIFF's data within the file), the label is a lossless single-channel id map, image and
label have the same size as shown (EXIF orientation applied), the image has ``dataset.channels``
channels, and every label value is a class id or ignore (the dataset's raw → train id table). The
label values come from one decode of the label, never of the image.

What a file passed with is cached under ``$SEGFW_CACHE/split_check`` (default ``~/.cache/segfw``),
keyed by its path, size and modification time, so a second launch on the same data reads headers of
changed files only. The first bad file is reported the way loading it would report it (one line
naming the file and the fix), before the first evaluation finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from segfw.atomic_write import write_text
from segfw.data.datasets.base import SegmentationDataset, apply_label_table
from segfw.data.io import ID_MODES, LOSSY_FORMATS, ORIENTATION_TAG, TIFF_SUFFIXES
from segfw.errors import BadSampleError

PROGRESS_FROM = 200  # files to inspect from which a progress bar is shown
JPEG_TAIL = 64  # bytes read at a JPEG's end to find its end-of-image marker
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height when shown
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)


def cache_dir() -> Path:
    return Path(os.environ.get("SEGFW_CACHE", Path.home() / ".cache" / "segfw")) / "split_check"


def _unreadable(path: Path, error: BaseException) -> BadSampleError:
    return BadSampleError(f"{path}: unreadable or truncated image ({error}); re-copy or remove the file")


def _shown_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(W, H) as shown, after the EXIF ``orientation``."""
    return (size[1], size[0]) if orientation in TRANSPOSED else (size[0], size[1])


def _png_orientation(path: Path) -> int:
    """The EXIF orientation of a PNG, walking its chunks and checking each CRC (a cut-off or damaged file
    raises ValueError) without decompressing the image data."""
    data = path.read_bytes()
    if data[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    position, orientation = 8, 1
    while True:
        if position + 12 > len(data):
            raise ValueError("the file ends before its IEND chunk (cut off)")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        if end > len(data):
            raise ValueError(f"the file ends inside its {kind.decode('latin-1')} chunk (cut off)")
        body = data[position + 8:end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4:end])[0]:
            raise ValueError(f"CRC error in its {kind.decode('latin-1')} chunk (damaged)")
        if kind == b"eXIf":
            exif = Image.Exif()
            exif.load(body)
            orientation = int(exif.get(ORIENTATION_TAG, 1))
        if kind == b"IEND":
            return orientation
        position = end


def _tiff_header(path: Path) -> list[int]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            end = max((o + n for o, n in zip(page.dataoffsets, page.databytecounts)), default=0)
            if end > path.stat().st_size:
                raise ValueError(f"image data ends at byte {end}, the file at {path.stat().st_size}")
            return [int(page.imagewidth), int(page.imagelength), int(page.samplesperpixel)]
    except Exception as error:  # tifffile raises many types for damaged files
        raise BadSampleError(f"{path}: unreadable TIFF ({type(error).__name__}: {error}); re-copy or remove the file") from None


def _jpeg_is_whole(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(max(path.stat().st_size - JPEG_TAIL, 0))
        return file.read().rstrip(b"\x00").endswith(b"\xff\xd9")  # padding after the marker is fine


def inspect_image(path: Path) -> list[int]:
    """``[W, H, channels]`` of the image file ``path`` as shown; a file that is not whole is a BadSampleError.

    Headers only (a PNG's chunks are read and CRC-checked, not decompressed), except a JPEG not ending in its
    end-of-image marker (decoded, to tell trailing data from a cut-off file) and formats other than PNG,
    JPEG and TIFF (decoded)."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        return _tiff_header(path)
    try:
        with Image.open(path) as image:
            if image.format == "PNG":
                orientation = _png_orientation(path)
            else:
                if image.format not in LOSSY_FORMATS or not _jpeg_is_whole(path):
                    image.load()
                orientation = int(image.getexif().get(ORIENTATION_TAG, 1))
            return [*_shown_size(image.size, orientation), len(image.getbands())]
    except DECODE_ERRORS as error:
        raise _unreadable(path, error) from None


def inspect_label(path: Path) -> list:
    """``[W, H, values]`` of the label file ``path`` as shown (``values``: the sorted ids it holds)."""
    try:
        with Image.open(path) as image:
            if image.format in LOSSY_FORMATS:
                raise BadSampleError(f"{path}: label is a {image.format} file; lossy compression changes class ids "
                                     "along every edge: save labels as PNG from the original ids")
            if image.mode not in ID_MODES:
                raise BadSampleError(
                    f"{path}: label is a {len(image.getbands())}-channel {image.mode} image (colour-coded?), but "
                    "single-channel class ids are expected; save ids as an 8-bit greyscale (L) or palette (P) PNG")
            if image.format == "PNG":
                _png_orientation(path)  # every chunk there and whole, also after the image data
            ids = np.asarray(image)  # the one decode: the ids it holds
            size = _shown_size(image.size, int(image.getexif().get(ORIENTATION_TAG, 1)))
    except DECODE_ERRORS as error:
        raise _unreadable(path, error) from None
    if ids.dtype == np.uint8:
        values = np.flatnonzero(np.bincount(ids.ravel(), minlength=256))
    else:
        values = np.unique(ids.astype(np.int64))
    return [*size, values.tolist()]


class InspectionCache:
    """What :func:`inspect_image` / :func:`inspect_label` returned per file, valid while its size and mtime hold."""

    def __init__(self, key: str, folder: Path | None):
        self.path = None if folder is None else folder / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"
        self.entries: dict[str, list] = {}
        self.changed = False
        if self.path is not None and self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.entries = {}

    @staticmethod
    def stamp(path: Path) -> list[int]:
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]

    def get(self, path: Path) -> list | None:
        entry = self.entries.get(str(path))
        try:
            return entry[2] if entry is not None and entry[:2] == self.stamp(path) else None
        except OSError:
            return None

    def put(self, path: Path, info: list) -> None:
        self.entries[str(path)] = [*self.stamp(path), info]
        self.changed = True

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text(self.path, json.dumps(self.entries))
        except Exception:  # noqa: BLE001 - a cache that cannot be written only makes the next launch slower
            pass


def check_split(dataset: SegmentationDataset, cache: Path | bool = True, progress: bool = True) -> list[str]:
    """One line per bad sample of ``dataset`` (empty when every sample passes; see the module docstring).

    ``cache``: True for :func:`cache_dir`, a folder, or False for none; ``progress``: a bar from
    :data:`PROGRESS_FROM` files to inspect."""
    folder = cache_dir() if cache is True else (cache or None)
    inspections = InspectionCache(f"{type(dataset).__name__}:{Path(dataset.root).resolve()}:{dataset.split}", folder)
    samples = [s for s in dataset.samples if not s.missing]
    todo = sum(inspections.get(p) is None for s in samples for p in (s.image, s.label))
    bar = tqdm(total=todo, desc=f"checking the {dataset.split} split", unit="file",
               disable=not progress or todo < PROGRESS_FROM, dynamic_ncols=True)
    problems = []
    try:
        for sample in samples:
            try:
                problems += _check_sample(dataset, sample, inspections, bar)
            except BadSampleError as error:
                problems.append(str(error))
    finally:
        bar.close()
        inspections.save()
    return problems


def _inspected(path: Path, inspect, inspections: InspectionCache, bar: tqdm) -> list:
    info = inspections.get(path)
    if info is None:
        info = inspect(path)
        inspections.put(path, info)
        bar.update(1)
    return info


def _check_sample(dataset: SegmentationDataset, sample, inspections: InspectionCache, bar: tqdm) -> list[str]:
    width, height, channels = _inspected(sample.image, inspect_image, inspections, bar)
    label_width, label_height, values = _inspected(sample.label, inspect_label, inspections, bar)
    if dataset.channels != 3 or sample.image.suffix.lower() in TIFF_SUFFIXES:
        if channels != dataset.channels:
            return [f"{sample.image}: image has {channels} channel(s), but dataset.channels={dataset.channels}; set "
                    "dataset.channels to the images' channel count (the model's first conv follows)"]
    if (label_width, label_height) != (width, height):
        return [f"{sample.label}: label is {label_width}x{label_height} but its image {sample.image.name} is "
                f"{width}x{height} (W x H, as shown); a label must have its image's size"]
    apply_label_table(np.asarray(values, dtype=np.int64), dataset.table, sample.label, dataset.title)
    return []


def describe_problems(problems: list[str], split: str, total: int) -> str:
    """One line for the bad samples ``problems`` of a ``split`` of ``total`` samples: the first and a count."""
    more = f" (and {len(problems) - 1} more of the {total} {split} samples)" if len(problems) > 1 else ""
    return (f"{problems[0]}{more}; found by checking the whole {split} split before training (or set "
            "dataset.on_bad_sample=skip to leave bad samples out)")
