"""Embedded dataset: procedurally drawn street scenes, generated once into a cache folder.

Road and sidewalk share one asphalt colour, and poles, fences and buildings share one concrete
colour: only shape (thin, long, vertical or horizontal) and long-range context (which side of the
road edge, what lies above) tell them apart. That makes the data a fair small test of context
modules. Scenes are deterministic given the seed and written in the ``folder`` layout.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from segfw.constants import IGNORE_INDEX
from segfw.data.datasets.folder import FolderDataset
from segfw.registry import DATASETS

CLASSES = ("sky", "building", "road", "sidewalk", "pole", "fence", "car", "vegetation")
SKY, BUILDING, ROAD, SIDEWALK, POLE, FENCE, CAR, VEGETATION = range(len(CLASSES))
PALETTE = np.array(
    [
        [70, 130, 180],
        [70, 70, 70],
        [128, 64, 128],
        [244, 35, 232],
        [153, 153, 153],
        [190, 153, 153],
        [0, 0, 142],
        [107, 142, 35],
    ],
    dtype=np.uint8,
)
GENERATOR_VERSION = 1


def draw_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One street scene: image (H, W, 3) uint8 and label (H, W) uint8 in ``CLASSES`` order."""
    ys, xs = np.mgrid[0:height, 0:width]
    label = np.full((height, width), SKY, dtype=np.uint8)
    image = np.zeros((height, width, 3), dtype=np.float32)
    asphalt = rng.uniform(85, 115) + rng.normal(0, 4, 3)
    concrete = rng.uniform(140, 175) + rng.normal(0, 6, 3)

    sky_top, sky_bottom = (
        np.array([60, 110, 200]) + rng.normal(0, 15, 3),
        np.array([170, 200, 235]) + rng.normal(0, 10, 3),
    )
    horizon = int(height * rng.uniform(0.38, 0.55))
    t = (ys / max(horizon, 1))[..., None].clip(0, 1)
    image[:] = sky_top * (1 - t) + sky_bottom * t

    def paint(region: np.ndarray, cls: int, colour: np.ndarray) -> None:
        label[region] = cls
        image[region] = colour

    # Buildings: blocks standing on the horizon, with darker windows.
    x = int(rng.integers(-width // 8, 0))
    while x < width:
        w = int(rng.integers(width // 8, width // 3))
        top = int(rng.uniform(0.05, 0.8) * horizon)
        block = (xs >= x) & (xs < x + w) & (ys >= top) & (ys < horizon)
        paint(block, BUILDING, concrete + rng.normal(0, 10, 3))
        windows = block & ((ys - top) % 8 < 3) & ((xs - x) % 7 < 3) & (ys < horizon - 3)
        image[windows] *= 0.6
        x += w + int(rng.integers(0, width // 10))

    # Road: a trapezoid vanishing towards the horizon; sidewalks on both sides, same asphalt colour.
    centre = width * rng.uniform(0.4, 0.6)
    half_bottom, half_top = width * rng.uniform(0.3, 0.45), width * rng.uniform(0.03, 0.08)
    depth = ((ys - horizon) / max(height - horizon, 1)).clip(0, 1)
    half = half_top + (half_bottom - half_top) * depth
    ground = ys >= horizon
    paint(ground, SIDEWALK, asphalt + rng.normal(0, 3, 3))
    paint(ground & (np.abs(xs - centre) < half), ROAD, asphalt)
    lane = ground & (np.abs(xs - centre) < 1 + depth) & ((ys // 6) % 2 == 0)
    image[lane] = 230

    # Vegetation: round tree crowns on the sidewalk edge.
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0, width), horizon - rng.uniform(0, 0.3) * horizon
        rx, ry = rng.uniform(0.04, 0.1) * width, rng.uniform(0.1, 0.25) * height
        crown = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 < 1
        paint(crown, VEGETATION, np.array([50, 120, 40]) + rng.normal(0, 12, 3))

    # Fence: a long thin horizontal bar along one sidewalk, concrete coloured.
    side = rng.choice([-1, 1])
    fence_y = int(horizon + rng.uniform(0.15, 0.5) * (height - horizon))
    fence_half = half_top + (half_bottom - half_top) * (fence_y - horizon) / max(height - horizon, 1)
    fence_x = centre + side * (fence_half + 2)
    fence = (np.abs(ys - fence_y) < 2) & ((xs - fence_x) * side > 0)
    paint(fence, FENCE, concrete)

    # Poles: thin, nearly full-height verticals on the sidewalks, concrete coloured like buildings.
    for _ in range(int(rng.integers(1, 4))):
        foot = int(rng.uniform(horizon + 0.3 * (height - horizon), height))
        foot_half = half_top + (half_bottom - half_top) * (foot - horizon) / max(height - horizon, 1)
        px = centre + rng.choice([-1, 1]) * (foot_half + rng.uniform(3, 0.15 * width))
        pole = (np.abs(xs - px) < max(1.0, width / 160)) & (ys >= int(rng.uniform(0.0, 0.15) * height)) & (ys < foot)
        paint(pole, POLE, concrete)

    # Cars: boxes on the road with dark wheels.
    for _ in range(int(rng.integers(1, 4))):
        cy = int(horizon + rng.uniform(0.25, 0.9) * (height - horizon))
        scale = (cy - horizon) / max(height - horizon, 1)
        cw, ch = max(4, int(width * 0.22 * scale)), max(3, int(height * 0.14 * scale))
        row_half = half_top + (half_bottom - half_top) * scale
        cx = centre + rng.uniform(-row_half + cw / 2, max(row_half - cw / 2, -row_half + cw / 2 + 1))
        body = (np.abs(xs - cx) < cw / 2) & (ys < cy) & (ys >= cy - ch)
        paint(body, CAR, rng.uniform(20, 230, 3))
        image[body & (ys >= cy - max(2, ch // 4))] = 25

    image *= rng.uniform(0.8, 1.2)
    image += rng.normal(0, 6, image.shape)
    return image.clip(0, 255).astype(np.uint8), label


def generate(
    root: Path,
    num_train: int,
    num_val: int,
    image_size: Sequence[int],
    seed: int,
    draw: Callable[[np.random.Generator, int, int], tuple[np.ndarray, ...]] = draw_scene,
    classes: Sequence[str] = CLASSES,
) -> None:
    """Write ``draw``'s scenes in the ``folder`` layout under ``root`` (atomically: a crash leaves no half set).

    ``draw`` returns ``(image, label)`` or ``(image, label, extra)``: an extra (H, W) uint16 map is saved
    as ``root/extras/<split>/<name>.png`` (16-bit PNG), e.g. context_arena's distance maps."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    (tmp / "classes.txt").write_text("\n".join(classes) + "\n")
    for split, count, offset in (("train", num_train, 0), ("val", num_val, 1_000_000)):
        (tmp / "images" / split).mkdir(parents=True)
        (tmp / "masks" / split).mkdir(parents=True)
        for i in range(count):
            image, label, *extra = draw(np.random.default_rng([seed, offset + i]), *image_size)
            Image.fromarray(image).save(tmp / "images" / split / f"{i:05d}.png")
            Image.fromarray(label, mode="L").save(tmp / "masks" / split / f"{i:05d}.png")
            if extra:
                (tmp / "extras" / split).mkdir(parents=True, exist_ok=True)
                Image.fromarray(extra[0].astype(np.uint16)).save(tmp / "extras" / split / f"{i:05d}.png")
    try:
        os.rename(tmp, root)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEGFW_CACHE", Path.home() / ".cache" / "segfw")) / "synthetic"


@DATASETS.register("synthetic")
class SyntheticStreets(FolderDataset):
    """Street scenes drawn on first use into ``cache_dir`` (default ``$SEGFW_CACHE`` or ``~/.cache/segfw``)."""

    def __init__(
        self,
        split: str = "train",
        transform: Callable | None = None,
        num_train: int = 300,
        num_val: int = 50,
        image_size: Sequence[int] = (128, 256),
        seed: int = 0,
        cache_dir: str | None = None,
        on_bad_sample: str = "fail",
        ignore_index: int = IGNORE_INDEX,
    ):
        size = (int(image_size[0]), int(image_size[1]))
        name = f"streets_v{GENERATOR_VERSION}_{size[0]}x{size[1]}_{num_train}-{num_val}_seed{seed}"
        root = Path(cache_dir).expanduser() / name if cache_dir else default_cache_dir() / name
        if not root.is_dir():
            generate(root, num_train, num_val, size, seed)
        super().__init__(root, split, transform, on_bad_sample, ignore_index=ignore_index)
        self.palette = PALETTE
