"""Aspect-preserving resizes to a (long, short) scale (mmseg's ``Resize(keep_ratio=True)`` and ``RandomResize``)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema, DualTransform

from segfw.registry import TRANSFORMS


def keep_ratio_size(height: int, width: int, scale: tuple[float, float]) -> tuple[int, int]:
    """(H', W') of the largest aspect-preserving resize with long side ≤ max(scale) and short side ≤ min(scale)."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def _resize(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    return cv2.resize(array, (size[1], size[0]), interpolation=interpolation)


@TRANSFORMS.register("RescaleKeepRatio")
class RescaleKeepRatio(DualTransform):
    """Resize so that the image fits ``scale = (long, short)`` with its aspect ratio kept (up or down).

    Image bilinear, mask nearest. Targets: image (H, W, C) and mask (H, W).
    """

    class InitSchema(BaseTransformInitSchema):
        scale: tuple[int, int]

    def __init__(self, scale: tuple[int, int], p: float = 1.0):
        super().__init__(p=p)
        self.scale = scale

    def target_scale(self) -> tuple[float, float]:
        return self.scale

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        return {"size": keep_ratio_size(*params["shape"][:2], self.target_scale())}

    def apply(self, img: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return _resize(img, size, cv2.INTER_LINEAR)

    def apply_to_mask(self, mask: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return _resize(mask, size, cv2.INTER_NEAREST)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("scale",)


@TRANSFORMS.register("RandomRescale")
class RandomRescale(RescaleKeepRatio):
    """:class:`RescaleKeepRatio` to ``scale × r``, ``r ~ U(*ratio_range)`` (both sides truncated to ints, as mmcv)."""

    class InitSchema(BaseTransformInitSchema):
        scale: tuple[int, int]
        ratio_range: tuple[float, float]

    def __init__(self, scale: tuple[int, int], ratio_range: tuple[float, float] = (0.5, 2.0), p: float = 1.0):
        super().__init__(scale=scale, p=p)
        if not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f"ratio_range must be 0 < low <= high, got {ratio_range}")
        self.ratio_range = ratio_range

    def target_scale(self) -> tuple[float, float]:
        ratio = self.random_generator.uniform(*self.ratio_range)
        return int(self.scale[0] * ratio), int(self.scale[1] * ratio)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("scale", "ratio_range")
