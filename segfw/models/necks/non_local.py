"""Non-local block (Wang et al., "Non-local Neural Networks", CVPR 2018), embedded-Gaussian form."""

from __future__ import annotations

from torch import Tensor, nn

from segfw.models.attention import PixelSelfAttention, reduced_channels
from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS


@NECKS.register("non_local")
class NonLocal(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``: every pixel attends to every pixel.

    θ, φ, g = 1×1 convs of x to d = C / reduction channels, read as (B, H·W, d);
    y = Attention(θ, φ, g); z = x + BN(W_z y) with W_z a 1×1 conv d → C whose BN scale starts at 0,
    so the block starts as the identity (paper, Sec. 4.1). The default score=scaled_dot with
    softmax is mmseg's ``NonLocal2d(mode="embedded_gaussian", use_scale=True)``, f = softmax(θᵀφ/√d);
    score=dot is the paper's unscaled form. θ, φ, g start from N(0, 0.01²) weights as in mmcv.
    Cost O((H·W)²·d).
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 2,
        score: str = "scaled_dot",
        normalize: str = "softmax",
        heads: int = 1,
    ):
        super().__init__()
        dim = reduced_channels(in_channels, reduction, heads)
        self.attention = PixelSelfAttention(in_channels, dim, dim, score, normalize, heads)
        self.project = ConvBNReLU(dim, in_channels, kernel_size=1, relu=False)
        for conv in (self.attention.query, self.attention.key, self.attention.value):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.project[1].weight)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.project(self.attention(x))
