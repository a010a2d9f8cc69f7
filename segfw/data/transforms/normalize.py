"""Per-channel normalisation for images of any channel count and value range."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from albumentations.core.transforms_interface import ImageOnlyTransform

from segfw.registry import TRANSFORMS


@TRANSFORMS.register("ChannelNormalize")
class ChannelNormalize(ImageOnlyTransform):
    """``(x - mean_c) / std_c`` per channel c, in the image's own units (no /255), as float32.

    Image: (H, W, C) of any dtype. ``mean``/``std``: C values each (the dataset's statistics), or
    null for each image's own per-channel mean and standard deviation.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None, p: float = 1.0):
        super().__init__(p=p)
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither (per-image statistics)")
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        values = img.astype(np.float32)
        values = values[..., None] if values.ndim == 2 else values
        if self.mean is None:
            mean, std = values.mean((0, 1)), values.std((0, 1))
        else:
            if len(self.mean) != values.shape[-1]:
                raise ValueError(f"ChannelNormalize has {len(self.mean)} means but the image {values.shape[-1]} channels")
            mean, std = self.mean, self.std
        return (values - mean) / np.maximum(std, 1e-6)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mean", "std")
