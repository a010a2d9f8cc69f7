"""Context arena: scenes whose classes each isolate one kind of context, with the distance of every
context-dependent pixel to the evidence that decides its class.

Families (two classes each, ``a`` / ``b``; every thin structure or object of a family has ONE paint, the
same for both classes, so only the evidence tells them apart):

- **row**: horizontal bars of ``thickness`` px running from a cue block at the left or right border
  across the whole width; the cue's colour (A or B) decides the class. Both classes in every image.
  Distance: pixels along the row from the bar pixel to the cue.
- **column**: the same with vertical bars and cues at the top or bottom border.
- **global**: square objects whose class (one per image) is the colour of ``global_dots`` small dots
  strewn over the whole scene. Distance: Euclidean, to the nearest dot.
- **region**: small squares with ``region_marks`` marks of colour A or B inside the square
  neighbourhood of Chebyshev radius ``region_radius`` around their centre (neighbourhoods never
  overlap, no other region's marks inside). Distance: Euclidean, to the nearest own mark.
- **local** (control): squares, textured (checkerboard, ``local_a``) or plain (``local_b``) of the same
  mean colour: decidable from a few pixels. No distance.

Cues, dots and marks are labelled ``background``. Row bars keep off the top/bottom margins and column
bars off the left/right margins (where the other orientation's cues lie), so a row holds only its own
cue. Bars cross each other (rows are drawn over columns); objects avoid bars and each other.

Distance maps: ``extras/<split>/<name>.png`` (uint16, pixels, :data:`NO_DISTANCE` where a pixel has no
deciding evidence), returned as ``item["distance"]`` (int64 (H, W)) by the validation split, whose
pipeline leaves the mask at its stored geometry (the training split does not carry it: its crops and
flips move the mask).

Chance levels (a model that knows the family from the paint but not the evidence): 50 % accuracy and
33.3 % IoU per class in every family (two balanced classes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segfw.constants import IGNORE_INDEX, NO_DISTANCE
from segfw.data.datasets.folder import FolderDataset
from segfw.data.datasets.synthetic import default_cache_dir, generate
from segfw.errors import ConfigError, SkippedSample
from segfw.registry import DATASETS

GENERATOR_VERSION = 1
# Mean pixel fraction of each family (and fraction of scenes holding it), default knobs at 256x256,
# measured over 200 scenes (a test checks 40): background is the rest (about 91 %).
FREQUENCIES = {"row": 0.035, "column": 0.033, "global": 0.0068, "region": 0.0066, "local": 0.009}
CLASSES = ("background", "row_a", "row_b", "column_a", "column_b", "global_a", "global_b",
           "region_a", "region_b", "local_a", "local_b")
FAMILIES = {"row": (1, 2), "column": (3, 4), "global": (5, 6), "region": (7, 8), "local": (9, 10)}
CONTEXT_FAMILIES = ("row", "column", "global", "region")  # the families with a distance map
# Paints (RGB): the evidence colours A / B of each family and the shared paint of its structures.
BAR, CUE_A, CUE_B = (200, 200, 200), (230, 60, 60), (60, 60, 230)
GLOBAL_OBJECT, DOT_A, DOT_B = (60, 170, 60), (240, 240, 40), (40, 240, 240)
REGION_OBJECT, MARK_A, MARK_B = (180, 60, 180), (250, 140, 20), (120, 250, 120)
LOCAL_LIGHT, LOCAL_DARK = (170, 120, 70), (90, 60, 30)
BACKGROUND = 100.0
PALETTE = np.array([[0, 0, 0], [230, 25, 75], [245, 130, 48], [60, 180, 75], [0, 130, 200], [145, 30, 180],
                    [70, 240, 240], [240, 50, 230], [210, 245, 60], [128, 128, 128], [255, 255, 255]], dtype=np.uint8)


class ArenaKnobs:
    """The generator's knobs (``configs/dataset/context_arena.yaml`` explains each)."""

    def __init__(self, thickness: int = 3, cue: int = 8, rows: Sequence[int] = (2, 4), columns: Sequence[int] = (2, 4),
                 global_objects: Sequence[int] = (2, 4), global_dots: int = 10, region_objects: Sequence[int] = (2, 4),
                 region_radius: int = 32, region_marks: int = 3, local_objects: Sequence[int] = (3, 5),
                 object_size: int = 12, noise: float = 12.0):
        self.thickness, self.cue = int(thickness), int(cue)
        self.rows, self.columns = (int(rows[0]), int(rows[1])), (int(columns[0]), int(columns[1]))
        self.global_objects, self.global_dots = (int(global_objects[0]), int(global_objects[1])), int(global_dots)
        self.region_objects = (int(region_objects[0]), int(region_objects[1]))
        self.region_radius, self.region_marks = int(region_radius), int(region_marks)
        self.local_objects, self.object_size, self.noise = (int(local_objects[0]), int(local_objects[1])), int(object_size), float(noise)
        for name, (lo, hi) in (("rows", self.rows), ("columns", self.columns)):
            if lo < 2 or hi < lo:
                raise ConfigError(f"dataset.{name}={[lo, hi]}: give [lo, hi] with 2 <= lo <= hi (both classes in every image)")

    def key(self) -> str:
        values = [self.thickness, self.cue, *self.rows, *self.columns, *self.global_objects, self.global_dots,
                  *self.region_objects, self.region_radius, self.region_marks, *self.local_objects, self.object_size,
                  self.noise]
        return "-".join(f"{v:g}" for v in values)


def _both_classes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` choices of 0 / 1 holding both values (n >= 2)."""
    picks = rng.integers(0, 2, n)
    picks[:2] = [0, 1]
    return rng.permutation(picks)


def _spaced(rng: np.random.Generator, n: int, lo: int, hi: int, gap: int) -> list[int]:
    """Up to ``n`` positions in [lo, hi) at least ``gap`` apart (rejection sampling)."""
    found: list[int] = []
    for _ in range(50 * n):
        if len(found) == n:
            break
        p = int(rng.integers(lo, hi))
        if all(abs(p - q) >= gap for q in found):
            found.append(p)
    return sorted(found)


def draw_arena_scene(rng: np.random.Generator, height: int, width: int,
                     knobs: ArenaKnobs | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: image (H, W, 3) uint8, label (H, W) uint8 in ``CLASSES`` order, distance (H, W) uint16."""
    k = knobs or ArenaKnobs()
    image = np.full((height, width, 3), BACKGROUND, dtype=np.float32)
    label = np.zeros((height, width), dtype=np.uint8)
    distance = np.full((height, width), NO_DISTANCE, dtype=np.float64)
    busy = np.zeros((height, width), dtype=bool)  # bars and objects, with a margin: where no object may go
    ys, xs = np.mgrid[0:height, 0:width]
    t, c = k.thickness, k.cue
    margin = c + 2

    # Columns, then rows over them: bar from a cue at one border across the image.
    for axis, count in ((1, k.columns), (0, k.rows)):
        length = height if axis == 1 else width
        across = width if axis == 1 else height
        n = int(rng.integers(count[0], count[1] + 1))
        positions = _spaced(rng, n, margin, across - margin - t, 4 * t)
        classes = _both_classes(rng, len(positions))
        family = FAMILIES["column" if axis == 1 else "row"]
        for p, cls in zip(positions, classes):
            start = rng.integers(0, 2) == 0  # cue at the low end (top / left) or the high end
            along = np.arange(length)
            d = along - (c - 1) if start else (length - c) - along  # pixels from the cue's inner edge
            band = (slice(None), slice(p, p + t)) if axis == 1 else (slice(p, p + t), slice(None))
            line = d[:, None] if axis == 1 else d[None, :]
            bar_part = np.broadcast_to(line > 0, image[band].shape[:2])
            cue_part = ~bar_part
            image[band][bar_part] = BAR
            image[band][cue_part] = CUE_A if cls == 0 else CUE_B
            label[band] = np.where(bar_part, family[cls], 0)
            distance[band] = np.where(bar_part, np.broadcast_to(line, bar_part.shape), NO_DISTANCE)
            lo, hi = max(p - 3, 0), p + t + 3
            if axis == 1:
                busy[:, lo:hi] = True
            else:
                busy[lo:hi, :] = True

    s = k.object_size

    def place(size: int, keep: int = 2) -> tuple[int, int] | None:
        """Top-left corner of a free ``size`` square (with ``keep`` px around it), marked busy."""
        for _ in range(200):
            y, x = int(rng.integers(margin, height - margin - size)), int(rng.integers(margin, width - margin - size))
            if not busy[max(y - keep, 0):y + size + keep, max(x - keep, 0):x + size + keep].any():
                busy[max(y - keep, 0):y + size + keep, max(x - keep, 0):x + size + keep] = True
                return y, x
        return None

    # Region objects first (they need the most room): marks within their own square neighbourhood.
    r = k.region_radius
    neighbourhoods = np.zeros((height, width), dtype=bool)
    for _ in range(int(rng.integers(k.region_objects[0], k.region_objects[1] + 1))):
        for _attempt in range(50):
            cy, cx = int(rng.integers(margin + r, height - margin - r)), int(rng.integers(margin + r, width - margin - r))
            box = (slice(cy - r, cy + r + 1), slice(cx - r, cx + r + 1))
            obj = (slice(cy - s // 2, cy - s // 2 + s), slice(cx - s // 2, cx - s // 2 + s))
            if not neighbourhoods[box].any() and not busy[obj].any():
                break
        else:
            continue
        marks = []
        for _attempt in range(200):
            if len(marks) == k.region_marks:
                break
            my, mx = int(rng.integers(cy - r, cy + r - 1)), int(rng.integers(cx - r, cx + r - 1))
            if max(abs(my + 1 - cy), abs(mx + 1 - cx)) > s // 2 + 3 and not busy[my:my + 2, mx:mx + 2].any():
                marks.append((my, mx))
        if not marks:
            continue
        neighbourhoods[box] = True
        cls = int(rng.integers(0, 2))
        image[obj] = REGION_OBJECT
        label[obj] = FAMILIES["region"][cls]
        busy[obj[0].start - 2:obj[0].stop + 2, obj[1].start - 2:obj[1].stop + 2] = True
        for my, mx in marks:
            image[my:my + 2, mx:mx + 2] = MARK_A if cls == 0 else MARK_B
            busy[my:my + 2, mx:mx + 2] = True
        oy, ox = ys[obj][..., None], xs[obj][..., None]
        points = np.array([(my + dy, mx + dx) for my, mx in marks for dy in (0, 1) for dx in (0, 1)])
        distance[obj] = np.sqrt((oy - points[:, 0]) ** 2 + (ox - points[:, 1]) ** 2).min(-1)

    # Global objects and the dots that decide their one class, strewn over the scene (outside neighbourhoods).
    global_cls = int(rng.integers(0, 2))
    dots = []
    for _ in range(200):
        if len(dots) == k.global_dots:
            break
        y, x = int(rng.integers(0, height - 2)), int(rng.integers(0, width - 2))
        if not busy[y:y + 2, x:x + 2].any() and not neighbourhoods[y:y + 2, x:x + 2].any():
            dots.append((y, x))
            image[y:y + 2, x:x + 2] = DOT_A if global_cls == 0 else DOT_B
            busy[y:y + 2, x:x + 2] = True
    points = np.array([(y + dy, x + dx) for y, x in dots for dy in (0, 1) for dx in (0, 1)]).reshape(-1, 2)
    for _ in range(int(rng.integers(k.global_objects[0], k.global_objects[1] + 1))):
        corner = place(s)
        if corner is None or not len(points):
            continue
        obj = (slice(corner[0], corner[0] + s), slice(corner[1], corner[1] + s))
        image[obj] = GLOBAL_OBJECT
        label[obj] = FAMILIES["global"][global_cls]
        oy, ox = ys[obj][..., None], xs[obj][..., None]
        distance[obj] = np.sqrt((oy - points[:, 0]) ** 2 + (ox - points[:, 1]) ** 2).min(-1)

    # Local control: checkerboard (a) or plain (b) squares of the same mean colour.
    light, dark = np.array(LOCAL_LIGHT, dtype=np.float32), np.array(LOCAL_DARK, dtype=np.float32)
    for _ in range(int(rng.integers(k.local_objects[0], k.local_objects[1] + 1))):
        corner = place(s)
        if corner is None:
            continue
        obj = (slice(corner[0], corner[0] + s), slice(corner[1], corner[1] + s))
        cls = int(rng.integers(0, 2))
        if cls == 0:
            checker = ((ys[obj] // 2 + xs[obj] // 2) % 2 == 0)[..., None]
            image[obj] = np.where(checker, light, dark)
        else:
            image[obj] = (light + dark) / 2
        label[obj] = FAMILIES["local"][cls]

    image += rng.normal(0, k.noise, image.shape)
    return image.clip(0, 255).astype(np.uint8), label, np.minimum(np.rint(distance), NO_DISTANCE).astype(np.uint16)


@DATASETS.register("context_arena")
class ContextArena(FolderDataset):
    """The context arena, drawn on first use into ``cache_dir`` (default ``$SEGFW_CACHE`` or ``~/.cache/segfw``).

    ``distance_bins``: upper edges (px, exclusive) of the distance bins the evaluation reports, in
    ``bin_names`` order; the last bin is open (``null`` edge). See the module docstring.
    """

    families = FAMILIES
    context_families = CONTEXT_FAMILIES

    def __init__(
        self,
        split: str = "train",
        transform: Callable | None = None,
        num_train: int = 400,
        num_val: int = 100,
        image_size: Sequence[int] = (256, 256),
        seed: int = 0,
        cache_dir: str | None = None,
        on_bad_sample: str = "fail",
        ignore_index: int = IGNORE_INDEX,
        distance_bins: Sequence[int | None] = (23, 65, 136, None),
        bin_names: Sequence[str] = ("lt_erf50", "lt_erf90", "lt_rf", "beyond_rf"),
        **knobs,
    ):
        scene = ArenaKnobs(**knobs)
        size = (int(image_size[0]), int(image_size[1]))
        if len(distance_bins) != len(bin_names) or distance_bins[-1] is not None:
            raise ConfigError(f"dataset.distance_bins={list(distance_bins)} needs one edge per bin_names entry "
                              f"({list(bin_names)}), the last one null (open bin)")
        self.distance_bins = [int(edge) for edge in distance_bins[:-1]]
        self.bin_names = list(bin_names)
        name = f"arena_v{GENERATOR_VERSION}_{size[0]}x{size[1]}_{num_train}-{num_val}_seed{seed}_{scene.key()}"
        root = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / name
        if not root.is_dir():
            generate(root, num_train, num_val, size, seed, lambda rng, h, w: draw_arena_scene(rng, h, w, scene), CLASSES)
        super().__init__(root, split, transform, on_bad_sample, ignore_index=ignore_index)
        self.palette = PALETTE

    def __getitem__(self, index: int) -> dict | SkippedSample:
        item = super().__getitem__(index)
        if self.split == "val" and not isinstance(item, SkippedSample):
            path = self.root / "extras" / self.split / f"{self.samples[index].name}.png"
            item["distance"] = torch.from_numpy(np.asarray(Image.open(path), dtype=np.int64))
        return item
