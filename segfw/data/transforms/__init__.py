"""Albumentations pipelines: the protocol transforms albumentations lacks, and the builder for config lists.

``build_transforms(cfg.augment, "train")`` turns a recipe from ``configs/augment/`` into a callable
``(image=(H, W, 3) uint8, mask=(H, W)) -> {"image": (3, H', W') float tensor, "mask": ...}``.
"""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

from segfw.data.transforms.build import KeepMask, build_transforms, transform_names  # noqa: E402
from segfw.data.transforms.crop import CatMaxRatioCrop  # noqa: E402
from segfw.data.transforms.photometric import PhotoMetricDistortion  # noqa: E402
from segfw.data.transforms.resize import RandomRescale, RescaleKeepRatio  # noqa: E402

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CatMaxRatioCrop",
    "KeepMask",
    "PhotoMetricDistortion",
    "RandomRescale",
    "RescaleKeepRatio",
    "build_transforms",
    "transform_names",
]
