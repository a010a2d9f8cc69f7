"""The reduce → context → project (→ concat the input) sandwich mmsegmentation's NL and CC heads use."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU


class ContextStage(nn.Module):
    """Runs a context block at a reduced width, as mmseg's ``NLHead`` / ``CCHead`` do.

    ``forward(x (B, C, H, W)) -> (B, channels, H, W)``::

        y = project(block(reduce(x)))          reduce: 3×3 ConvBNReLU C → channels
                                               project: 3×3 ConvBNReLU block.out_channels → channels
        y = fuse(cat[x, y])  if concat_input   fuse: 3×3 ConvBNReLU C + channels → channels

    ``block`` is any context block built for ``channels`` input channels. With the identity block
    this is exactly mmseg's ``FCNHead(num_convs=2, concat_input=True)`` without its classifier.
    """

    def __init__(self, in_channels: int, channels: int, block: nn.Module, concat_input: bool = True):
        super().__init__()
        self.reduce = ConvBNReLU(in_channels, channels)
        self.block = block
        self.project = ConvBNReLU(getattr(block, "out_channels", channels), channels)
        self.fuse = ConvBNReLU(in_channels + channels, channels) if concat_input else None
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.block(self.reduce(x)))
        return y if self.fuse is None else self.fuse(torch.cat([x, y], dim=1))
