"""Pictures of images and label maps: colour a mask, blend it over its image, tile many into one grid.

Every function takes numpy arrays or tensors and returns ``(H, W, 3)`` uint8 RGB numpy arrays, ready for
``PIL.Image.fromarray`` or TensorBoard's ``add_image(..., dataformats="HWC")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from segfw.constants import IGNORE_COLOUR, IMAGENET_MEAN, IMAGENET_STD


def _numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    return array.detach().cpu().numpy() if torch.is_tensor(array) else np.asarray(array)


def colorize(mask: np.ndarray | torch.Tensor, palette: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """Class ids (H, W) → colours (H, W, 3) uint8; ids outside the palette (255 = ignore) are black."""
    ids = _numpy(mask).astype(np.int64)
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    table = np.vstack([palette, np.array([IGNORE_COLOUR], dtype=np.uint8)])
    ids = np.where((ids >= 0) & (ids < len(palette)), ids, len(palette))
    return table[ids]


def to_uint8_image(image: np.ndarray | torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """An image as (H, W, 3) uint8 from a (3, H, W) tensor or (H, W, 3) array; floats are un-normalized."""
    array = _numpy(image)
    if torch.is_tensor(image):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 2 or array.shape[-1] != 3:
        return false_colour(array)
    if array.dtype != np.uint8:
        array = (array.astype(np.float32) * np.asarray(std) + np.asarray(mean)) * 255.0
        array = array.round().clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def false_colour(array: np.ndarray) -> np.ndarray:
    """An image of any channel count (H, W[, C]) shown as (H, W, 3) uint8: its first three channels (one
    channel: grey), each stretched from its own 1st to 99th percentile."""
    values = array.astype(np.float32)
    values = values[..., None] if values.ndim == 2 else values
    values = values[..., :3] if values.shape[-1] >= 3 else np.repeat(values[..., :1], 3, axis=-1)
    low, high = np.percentile(values, 1, axis=(0, 1)), np.percentile(values, 99, axis=(0, 1))
    stretched = (values - low) / np.maximum(high - low, 1e-6) * 255.0
    return np.ascontiguousarray(stretched.round().clip(0, 255).astype(np.uint8))


def overlay(
    image: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor,
    palette: np.ndarray | Sequence[Sequence[int]],
    alpha: float = 0.5,
) -> np.ndarray:
    """Mask colours blended over the image (H, W, 3) uint8 with weight ``alpha``; ignored pixels show the image."""
    picture = to_uint8_image(image)
    ids = _numpy(mask)
    if picture.shape[:2] != ids.shape:
        raise ValueError(f"overlay: image is {picture.shape[:2]} but mask is {ids.shape} (H, W)")
    colours = colorize(ids, palette).astype(np.float32)
    blended = picture.astype(np.float32) * (1 - alpha) + colours * alpha
    labelled = ((ids >= 0) & (ids < len(np.asarray(palette).reshape(-1, 3))))[..., None]
    return np.where(labelled, blended.round(), picture).astype(np.uint8)


def make_grid(tiles: Sequence[np.ndarray], columns: int = 4, gap: int = 2) -> np.ndarray:
    """Tiles (h_i, w_i, 3) uint8 laid out row by row, each in a cell as large as the largest tile; white gaps."""
    if not tiles:
        raise ValueError("make_grid: no tiles")
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    grid = np.full((rows * (cell_h + gap) - gap, columns * (cell_w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * (cell_h + gap), (i % columns) * (cell_w + gap)
        grid[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return grid
