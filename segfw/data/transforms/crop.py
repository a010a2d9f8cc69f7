"""Random crop that avoids crops dominated by one class (mmsegmentation's ``RandomCrop(cat_max_ratio=...)``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema, DualTransform
from pydantic import Field

from segfw.constants import IGNORE_INDEX
from segfw.registry import TRANSFORMS

MAX_TRIES = 10


@TRANSFORMS.register("CatMaxRatioCrop")
class CatMaxRatioCrop(DualTransform):
    """Crop ``(height, width)`` at a random place; retry up to 10 times while one class covers too much.

    A crop is accepted when it holds at least two classes and the largest covers less than
    ``cat_max_ratio`` of its non-ignored pixels; after 10 rejected tries the last crop is kept.
    ``cat_max_ratio=1`` is a plain random crop. An image smaller than the crop is cropped to its own
    size along that side (no padding: pad afterwards, e.g. with ``PadIfNeeded``), as in mmsegmentation.

    Targets: image (H, W, C) and mask (H, W).
    """

    class InitSchema(BaseTransformInitSchema):
        height: int = Field(ge=1)
        width: int = Field(ge=1)
        cat_max_ratio: float = Field(gt=0, le=1)
        ignore_index: int

    def __init__(
        self, height: int, width: int, cat_max_ratio: float = 1.0, ignore_index: int = IGNORE_INDEX, p: float = 1.0
    ):
        super().__init__(p=p)
        self.height, self.width = height, width
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def _random_window(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        height, width = min(self.height, shape[0]), min(self.width, shape[1])
        top = int(self.random_generator.integers(0, shape[0] - height + 1))
        left = int(self.random_generator.integers(0, shape[1] - width + 1))
        return top, left, top + height, left + width

    def _balanced(self, mask: np.ndarray, window: tuple[int, int, int, int]) -> bool:
        top, left, bottom, right = window
        labels, counts = np.unique(mask[top:bottom, left:right], return_counts=True)
        counts = counts[labels != self.ignore_index]
        return len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        window = self._random_window(params["shape"])
        mask = data.get("mask")
        if self.cat_max_ratio < 1 and mask is not None:
            for _ in range(MAX_TRIES - 1):
                if self._balanced(mask, window):
                    break
                window = self._random_window(params["shape"])
        return {"window": window}

    def apply(self, img: np.ndarray, window: tuple[int, int, int, int], **params: Any) -> np.ndarray:
        top, left, bottom, right = window
        return img[top:bottom, left:right]

    def apply_to_mask(self, mask: np.ndarray, window: tuple[int, int, int, int], **params: Any) -> np.ndarray:
        return self.apply(mask, window)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("height", "width", "cat_max_ratio", "ignore_index")
