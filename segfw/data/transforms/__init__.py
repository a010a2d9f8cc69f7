"""Albumentations pipelines: the protocol transforms albumentations lacks, and the builder for config lists.

``build_transforms(cfg.augment, "train")`` turns a recipe from ``configs/augment/`` into a callable
``(image=(H, W, 3) uint8, mask=(H, W)) -> {"image": (3, H', W') float tensor, "mask": ...}``.
Every module here is imported, so a transform registered with ``@TRANSFORMS.register`` in a new
file is usable in a recipe at once.
"""

from segfw.autoimport import import_submodules
from segfw.data.transforms.build import KeepMask, build_transforms, transform_names
from segfw.data.transforms.crop import CatMaxRatioCrop
from segfw.data.transforms.normalize import ChannelNormalize
from segfw.data.transforms.photometric import PhotoMetricDistortion
from segfw.data.transforms.resize import RandomRescale, RescaleKeepRatio

import_submodules(__name__, __path__)

__all__ = [
    "CatMaxRatioCrop",
    "ChannelNormalize",
    "KeepMask",
    "PhotoMetricDistortion",
    "RandomRescale",
    "RescaleKeepRatio",
    "build_transforms",
    "transform_names",
]
