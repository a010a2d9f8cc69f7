"""A narrow, shallow ResNet that keeps its feature maps large: context studies on a CPU."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from segfw.models.backbones.resnet_blocks import add_strip_pooling
from segfw.models.feature_spec import FeatureSpec
from segfw.models.layers import ConvBNReLU
from segfw.errors import ConfigError
from segfw.registry import BACKBONES

_LEVELS = ("c2", "c3", "c4", "c5")


def _stage(in_channels: int, channels: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
    """``blocks`` BasicBlocks; the first changes width/stride (1×1 projection), every 3×3 conv has ``dilation``."""
    layers = []
    for index in range(blocks):
        first = index == 0
        down = None
        if first and (stride != 1 or in_channels != channels):
            down = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))
        block = BasicBlock(in_channels if first else channels, channels, stride if first else 1, down)
        for conv in (block.conv1, block.conv2):
            conv.dilation, conv.padding = (dilation, dilation), (dilation, dilation)
        layers.append(block)
    return nn.Sequential(*layers)


@BACKBONES.register("lite_resnet")
class LiteResNet(nn.Module):
    """Four stages of BasicBlocks with small widths, from scratch.

    ``forward(x: (B, 3, H, W)) -> {"c2": (B, w0, H/4, W/4), "c3": (B, w1, H/8, W/8),
    "c4": (B, w2, H/s4, W/s4), "c5": (B, w3, H/os, W/os)}`` with ``os = output_stride`` (4, 8, 16
    or 32); stages past the output stride keep it and grow their dilation instead (×2 each).
    ``widths``: channels of c2..c5; ``blocks``: residual blocks per stage.
    ``strip_pooling_stages``: levels whose every block gets a strip pooling module (as in ``resnet``).
    A 256×256 image at output stride 8 gives 32×32 maps at c3, c4 and c5.
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 96, 128),
        blocks: Sequence[int] = (1, 1, 1, 1),
        output_stride: int = 8,
        strip_pooling_stages: Sequence[str] = (),
    ):
        super().__init__()
        if output_stride not in (4, 8, 16, 32):
            raise ConfigError(f"lite_resnet output_stride={output_stride} is not supported; choose 4, 8, 16 or 32")
        if len(widths) != 4 or len(blocks) != 4:
            raise ConfigError(f"lite_resnet needs 4 widths and 4 block counts (c2..c5), got {list(widths)} and {list(blocks)}")
        self.stem = nn.Sequential(ConvBNReLU(3, widths[0] // 2, 3, stride=2), ConvBNReLU(widths[0] // 2, widths[0], 3, stride=2))
        stride, dilation, specs, stages = 4, 1, {}, []
        previous = widths[0]
        for index, (level, width, count) in enumerate(zip(_LEVELS, widths, blocks)):
            step = 1 if index == 0 else 2
            if index > 0 and stride * 2 > output_stride:
                step, dilation = 1, dilation * 2
            stride *= step
            stages.append(_stage(previous, width, count, step, dilation))
            specs[level] = FeatureSpec(width, stride)
            previous = width
        self.c2, self.c3, self.c4, self.c5 = stages
        if isinstance(strip_pooling_stages, str) or any(level not in _LEVELS for level in strip_pooling_stages):
            raise ConfigError(f"model.backbone.strip_pooling_stages must be a list of {', '.join(_LEVELS)}, "
                              f"got {strip_pooling_stages!r}")
        for level in strip_pooling_stages:
            for block in getattr(self, level):
                add_strip_pooling(block)
        self.out_specs = specs

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        c2 = self.c2(self.stem(x))
        c3 = self.c3(c2)
        c4 = self.c4(c3)
        return {"c2": c2, "c3": c3, "c4": c4, "c5": self.c5(c4)}
