"""Models: backbones, necks (context modules), heads and the segmentor that joins them."""

from segfw.models import backbones, heads, necks  # noqa: F401  (registers components)
from segfw.models.feature_spec import FeatureSpec
from segfw.models.segmentor import Segmentor, build_segmentor

__all__ = ["FeatureSpec", "Segmentor", "build_segmentor"]
