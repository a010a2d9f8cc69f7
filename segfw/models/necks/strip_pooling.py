"""The strip pooling module (SPM, :class:`segfw.models.blocks.strip_pooling.StripPooling`) as a neck."""

from segfw.models.blocks.strip_pooling import StripBranch, StripPooling
from segfw.registry import NECKS

NECKS.register("strip_pooling")(StripPooling)

__all__ = ["StripBranch", "StripPooling"]
