"""segfw: a PyTorch semantic-segmentation research framework.

Every block is a plain ``nn.Module`` usable without any config::

    import segfw
    model = segfw.build_segmentor({"backbone": {"name": "resnet18"}, "head": {"name": "fcn"}}, num_classes=19)
"""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from segfw import data, losses, metrics, models  # noqa: E402,F401  (registers components)
from segfw.models import FeatureSpec, Segmentor, build_segmentor  # noqa: E402
from segfw.errors import ConfigError  # noqa: E402
from segfw.registry import ALL_REGISTRIES, BACKBONES, DATASETS, HEADS, LOSSES, NECKS  # noqa: E402

__all__ = [
    "ALL_REGISTRIES",
    "BACKBONES",
    "DATASETS",
    "HEADS",
    "LOSSES",
    "NECKS",
    "ConfigError",
    "FeatureSpec",
    "Segmentor",
    "build_segmentor",
]
