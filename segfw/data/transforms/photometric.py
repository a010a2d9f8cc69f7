"""Colour jitter of the semantic-segmentation protocol (mmsegmentation's ``PhotoMetricDistortion``)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform
from pydantic import Field

from segfw.registry import TRANSFORMS


def _scale_shift(values: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    return (values.astype(np.float32) * alpha + beta).clip(0, 255).astype(np.uint8)


@TRANSFORMS.register("PhotoMetricDistortion")
class PhotoMetricDistortion(ImageOnlyTransform):
    """Brightness, contrast, saturation and hue jitter, each applied with probability 1/2, in mmseg's order.

    brightness: add ``U(-brightness_delta, brightness_delta)``; contrast: multiply by ``U(*contrast_range)``
    (before or after the colour steps, at random); saturation: scale HSV saturation by ``U(*saturation_range)``;
    hue: shift OpenCV hue (0..179) by an integer in ``[-hue_delta, hue_delta]``. Image: (H, W, 3) uint8 RGB.
    """

    class InitSchema(BaseTransformInitSchema):
        brightness_delta: float = Field(ge=0)
        contrast_range: tuple[float, float]
        saturation_range: tuple[float, float]
        hue_delta: int = Field(ge=0, le=90)

    def __init__(
        self,
        brightness_delta: float = 32,
        contrast_range: tuple[float, float] = (0.5, 1.5),
        saturation_range: tuple[float, float] = (0.5, 1.5),
        hue_delta: int = 18,
        p: float = 1.0,
    ):
        super().__init__(p=p)
        self.brightness_delta = brightness_delta
        self.contrast_range = contrast_range
        self.saturation_range = saturation_range
        self.hue_delta = hue_delta

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator

        def maybe(draw):  # each distortion happens with probability 1/2
            return draw() if rng.random() < 0.5 else None

        return {
            "brightness": maybe(lambda: rng.uniform(-self.brightness_delta, self.brightness_delta)),
            "contrast_first": bool(rng.random() < 0.5),
            "contrast": maybe(lambda: rng.uniform(*self.contrast_range)),
            "saturation": maybe(lambda: rng.uniform(*self.saturation_range)),
            "hue": maybe(lambda: int(rng.integers(-self.hue_delta, self.hue_delta + 1))),
        }

    def apply(
        self, img: np.ndarray, brightness, contrast_first, contrast, saturation, hue, **params: Any
    ) -> np.ndarray:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(f"PhotoMetricDistortion needs (H, W, 3) uint8 RGB images, got {img.dtype} {img.shape}")
        if brightness is not None:
            img = _scale_shift(img, beta=brightness)
        if contrast is not None and contrast_first:
            img = _scale_shift(img, alpha=contrast)
        if saturation is not None or hue is not None:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            if saturation is not None:
                hsv[..., 1] = _scale_shift(hsv[..., 1], alpha=saturation)
            if hue is not None:
                hsv[..., 0] = (hsv[..., 0].astype(np.int16) + hue) % 180
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if contrast is not None and not contrast_first:
            img = _scale_shift(img, alpha=contrast)
        return img

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("brightness_delta", "contrast_range", "saturation_range", "hue_delta")
