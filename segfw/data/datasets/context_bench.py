"""Embedded context benchmark: street scenes where a pixel's class is decided by its row or column.

Every thin structure is drawn with one ``bar`` paint, so a small window cannot tell them apart:

- pole: a vertical bar standing on the sidewalk, running up past the roofs (often into the sky);
- drainpipe (labelled building): a vertical bar that starts and ends inside one facade;
- fence: a long horizontal bar on the sidewalk, beside the road;
- stop line (labelled road): a horizontal bar between the two road edges;
- ledge (labelled building): a horizontal bar inside one facade.

Road and sidewalk share one asphalt colour with no visible kerb: only the lane markings and cars
along the same rows say where the road is. Buildings and facades share the pole's surroundings:
in front of a facade, a pole segment looks like a drainpipe, and only its column (does it reach
the sidewalk and the sky?) resolves it. Tree crowns and cars occlude poles and fences, so the
visible pieces of one structure must be tied together over long distances.

Knobs (constructor arguments / ``configs/dataset/context_bench.yaml``):

``image_size`` (H, W): scene size; thin structures scale with the width (``bar_width``).
``bar_width``: thickness of every bar in pixels at W=256 (scaled with W; at least 1).
``poles`` (lo, hi): poles per scene, drawn uniformly in [lo, hi].
``drainpipes_per_building``: upper bound of distractor verticals per facade (uniform in [0, n]).
``fences`` (lo, hi): fences per scene; ``stop_lines`` (lo, hi): distractor bars across the road.
``occluders`` (lo, hi): tree crowns per scene (cars come on top, 1–3 per scene).

With the defaults (256×256, bar_width 6) the scenes hold on average (``FREQUENCIES``, measured
over 200 scenes, checked by a test): pole ≈ 5 % and fence ≈ 1 % of the pixels (building 30 %,
sidewalk 26 %, sky 17 %, road 14 %, vegetation 4 %, car 3 %), and every scene holds a pole and
a fence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segfw.constants import IGNORE_INDEX
from segfw.data.datasets.folder import FolderDataset
from segfw.data.datasets.synthetic import (
    BUILDING,
    CAR,
    CLASSES,
    FENCE,
    PALETTE,
    POLE,
    ROAD,
    SIDEWALK,
    SKY,
    VEGETATION,
    default_cache_dir,
    generate,
)
from segfw.registry import DATASETS

GENERATOR_VERSION = 1
# Mean fraction of pixels (and fraction of images holding the class) with the default knobs.
FREQUENCIES = {"pole": {"pixels": 0.052, "images": 1.0}, "fence": {"pixels": 0.0092, "images": 1.0}}


class SceneKnobs:
    """The generator's knobs (see the module docstring)."""

    def __init__(
        self,
        bar_width: float = 6.0,
        poles: Sequence[int] = (2, 5),
        drainpipes_per_building: int = 2,
        fences: Sequence[int] = (1, 3),
        stop_lines: Sequence[int] = (1, 3),
        occluders: Sequence[int] = (1, 3),
    ):
        self.bar_width = float(bar_width)
        self.poles = (int(poles[0]), int(poles[1]))
        self.drainpipes_per_building = int(drainpipes_per_building)
        self.fences = (int(fences[0]), int(fences[1]))
        self.stop_lines = (int(stop_lines[0]), int(stop_lines[1]))
        self.occluders = (int(occluders[0]), int(occluders[1]))

    def key(self) -> str:
        """A short stable name for the cache folder."""
        values = [self.bar_width, *self.poles, self.drainpipes_per_building, *self.fences, *self.stop_lines,
                  *self.occluders]
        return "-".join(f"{v:g}" for v in values)


def draw_context_scene(
    rng: np.random.Generator, height: int, width: int, knobs: SceneKnobs | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One scene: image (H, W, 3) uint8 and label (H, W) uint8 in ``CLASSES`` order."""
    knobs = knobs or SceneKnobs()
    ys, xs = np.mgrid[0:height, 0:width]
    label = np.full((height, width), SKY, dtype=np.uint8)
    image = np.zeros((height, width, 3), dtype=np.float32)
    half_bar = max(0.5, knobs.bar_width * width / 256 / 2)
    asphalt = rng.uniform(90, 120) + rng.normal(0, 3, 3)
    facade = rng.uniform(150, 185) + rng.normal(0, 4, 3)
    bar = facade * rng.uniform(0.55, 0.7)  # every thin structure, whatever its class

    def paint(region: np.ndarray, cls: int, colour: np.ndarray) -> None:
        label[region] = cls
        image[region] = colour

    def between(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    horizon = int(height * rng.uniform(0.45, 0.6))
    t = (ys / max(horizon, 1))[..., None].clip(0, 1)
    image[:] = (np.array([70, 120, 200]) + rng.normal(0, 10, 3)) * (1 - t) + np.array([175, 200, 230]) * t

    # Buildings: adjacent facades of one colour covering most of the skyline, darker windows,
    # distractor drainpipes (vertical bars) and ledges (horizontal bars) that stay inside the facade.
    facades: list[tuple[int, int, int]] = []
    x = int(rng.integers(-width // 10, 0))
    while x < width:
        w = int(rng.integers(width // 6, width // 3))
        top = int(rng.uniform(0.05, 0.5) * horizon)
        block = (xs >= x) & (xs < x + w) & (ys >= top) & (ys < horizon)
        paint(block, BUILDING, facade)
        windows = block & ((ys - top) % 10 < 4) & ((xs - x) % 9 < 4) & (ys < horizon - 4) & (ys > top + 3)
        image[windows] = facade * 0.8
        facades.append((x, w, top))
        x += w + int(rng.integers(0, width // 16))
    for fx, fw, top in facades:
        for _ in range(between(0, knobs.drainpipes_per_building)):
            px = fx + rng.uniform(0.1, 0.9) * fw
            y0 = top + int(rng.uniform(0.0, 0.3) * (horizon - top))
            y1 = horizon - int(rng.uniform(0.1, 0.3) * (horizon - top))
            paint((np.abs(xs - px) < half_bar) & (ys >= y0) & (ys < y1), BUILDING, bar)
        if horizon - top > 12:
            ly = int(rng.uniform(top + 4, horizon - 4))
            paint((np.abs(ys - ly) < half_bar) & (xs >= fx + 2) & (xs < fx + fw - 2), BUILDING, bar)

    # Road: a trapezoid vanishing at the horizon; the sidewalks around it have the same colour.
    centre = width * rng.uniform(0.35, 0.65)
    half_bottom, half_top = width * rng.uniform(0.25, 0.4), width * rng.uniform(0.02, 0.06)

    def road_half(y: np.ndarray | float) -> np.ndarray | float:
        depth = np.clip((y - horizon) / max(height - horizon, 1), 0, 1)
        return half_top + (half_bottom - half_top) * depth

    ground = ys >= horizon
    paint(ground, SIDEWALK, asphalt)
    on_road = ground & (np.abs(xs - centre) < road_half(ys))
    label[on_road] = ROAD
    image[ground & (np.abs(xs - centre) < 1 + 0.02 * width * (ys - horizon) / height) & ((ys // 8) % 2 == 0)] = 235

    # Stop lines: horizontal bars from kerb to kerb (road), same paint as fences.
    for _ in range(between(*knobs.stop_lines)):
        y = int(horizon + rng.uniform(0.2, 0.95) * (height - horizon))
        paint((np.abs(ys - y) < half_bar) & (np.abs(xs - centre) < road_half(y) - 1), ROAD, bar)

    # Fences: long horizontal bars on one sidewalk, starting a little off the kerb.
    for _ in range(between(*knobs.fences)):
        y = int(horizon + rng.uniform(0.15, 0.9) * (height - horizon))
        side = rng.choice([-1, 1])
        start = centre + side * (road_half(y) + rng.uniform(2, 0.05 * width))
        length = rng.uniform(0.3, 0.6) * width
        paint((np.abs(ys - y) < half_bar) & ((xs - start) * side > 0) & ((xs - start) * side < length), FENCE, bar)

    # Poles: vertical bars from a foot on the sidewalk up past the roofs, mostly in front of facades.
    for _ in range(between(*knobs.poles)):
        foot = int(horizon + rng.uniform(0.2, 1.0) * (height - horizon))
        side = rng.choice([-1, 1])
        px = centre + side * (road_half(foot) + rng.uniform(2, 0.12 * width))
        top = int(rng.uniform(0.0, 0.25) * horizon)
        paint((np.abs(xs - px) < half_bar) & (ys >= top) & (ys < foot), POLE, bar)

    # Occluders: tree crowns hide pieces of poles, fences and facades.
    for _ in range(between(*knobs.occluders)):
        cx, cy = rng.uniform(0, width), horizon + rng.uniform(-0.35, 0.1) * height
        rx, ry = rng.uniform(0.05, 0.1) * width, rng.uniform(0.05, 0.12) * height
        crown = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 < 1
        paint(crown, VEGETATION, np.array([50, 120, 40]) + rng.normal(0, 12, 3))

    # Cars on the road, in front of everything.
    for _ in range(between(1, 3)):
        cy = int(horizon + rng.uniform(0.25, 0.95) * (height - horizon))
        scale = (cy - horizon) / max(height - horizon, 1)
        cw, ch = max(4, int(width * 0.25 * scale)), max(3, int(height * 0.15 * scale))
        half = road_half(cy)
        cx = centre + rng.uniform(-max(half - cw / 2, 1), max(half - cw / 2, 1))
        body = (np.abs(xs - cx) < cw / 2) & (ys < cy) & (ys >= cy - ch)
        paint(body, CAR, rng.uniform(20, 230, 3))
        image[body & (ys >= cy - max(2, ch // 4))] = 25

    image *= rng.uniform(0.85, 1.15)
    image += rng.normal(0, 5, image.shape)
    return image.clip(0, 255).astype(np.uint8), label


@DATASETS.register("context_bench")
class ContextBench(FolderDataset):
    """The context benchmark, drawn on first use into ``cache_dir`` (default ``$SEGFW_CACHE`` or
    ``~/.cache/segfw``). Same classes and palette as ``synthetic``; see the module docstring."""

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
        **knobs,
    ):
        scene = SceneKnobs(**knobs)
        size = (int(image_size[0]), int(image_size[1]))
        name = f"context_v{GENERATOR_VERSION}_{size[0]}x{size[1]}_{num_train}-{num_val}_seed{seed}_{scene.key()}"
        root = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / name
        if not root.is_dir():
            generate(root, num_train, num_val, size, seed,
                     lambda rng, h, w: draw_context_scene(rng, h, w, scene))
        super().__init__(root, split, transform, on_bad_sample, ignore_index=ignore_index)
        self.palette = PALETTE


def class_frequencies(scenes: Sequence[np.ndarray], classes: Sequence[str] = CLASSES) -> dict[str, dict[str, float]]:
    """Per class: mean pixel fraction over ``scenes`` (label maps) and fraction of scenes holding it."""
    out = {}
    for index, name in enumerate(classes):
        fractions = np.array([(label == index).mean() for label in scenes])
        out[name] = {"pixels": float(fractions.mean()), "images": float((fractions > 0).mean())}
    return out
