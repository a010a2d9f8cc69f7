"""The empty context module: features pass through unchanged."""

from torch import Tensor, nn

from segfw.registry import NECKS


@NECKS.register("identity")
class IdentityNeck(nn.Module):
    """(B, C, H, W) → the same tensor. The baseline every context module is compared with."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.out_channels = in_channels

    def forward(self, x: Tensor) -> Tensor:
        return x
