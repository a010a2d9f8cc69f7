"""Global context block (Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond", 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segfw.registry import NECKS, ConfigError


def _transform(channels: int, planes: int) -> nn.Sequential:
    """1×1 conv C → P, LayerNorm over (P, 1, 1), ReLU, 1×1 conv P → C (last conv zero: starts silent)."""
    seq = nn.Sequential(nn.Conv2d(channels, planes, 1), nn.LayerNorm([planes, 1, 1]), nn.ReLU(inplace=True),
                        nn.Conv2d(planes, channels, 1))
    nn.init.zeros_(seq[3].weight)
    nn.init.zeros_(seq[3].bias)
    return seq


@NECKS.register("global_context")
class GlobalContext(nn.Module):
    """``forward(x (B, C, H, W)) -> (B, C, H, W)``: one query-independent context vector per image.

    context c = Σ_j softmax_j(W_k x_j) x_j  (pooling="att"; W_k a 1×1 conv C → 1) or mean_j x_j ("avg"),
    shape (B, C, 1, 1); with T(c) = W_2 ReLU(LN(W_1 c)) (W_1: C → P = int(C·ratio), W_2: P → C):
    y = x · σ(T_mul(c)) if "channel_mul" in fusion, then y = y + T_add(c) if "channel_add" in fusion.
    As mmcv's ``ContextBlock`` (mmseg's ``GCHead``), same initialisation (W_k Kaiming fan-in,
    last conv of each transform zero, so the block starts as the identity). Cost O(H·W·C).
    """

    def __init__(self, in_channels: int, ratio: float = 0.25, pooling: str = "att",
                 fusion: Sequence[str] = ("channel_add",)):
        super().__init__()
        if pooling not in ("att", "avg"):
            raise ConfigError(f"global_context pooling must be 'att' or 'avg', got {pooling!r}")
        fusion = list(fusion)
        if not fusion or set(fusion) - {"channel_add", "channel_mul"}:
            raise ConfigError(f"global_context fusion must list 'channel_add' and/or 'channel_mul', got {fusion}")
        planes = int(in_channels * ratio)
        self.mask = nn.Conv2d(in_channels, 1, 1) if pooling == "att" else None
        if self.mask is not None:
            nn.init.kaiming_normal_(self.mask.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(self.mask.bias)
        self.add = _transform(in_channels, planes) if "channel_add" in fusion else None
        self.mul = _transform(in_channels, planes) if "channel_mul" in fusion else None

    def context(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → (B, C, 1, 1)."""
        if self.mask is None:
            return x.mean(dim=(2, 3), keepdim=True)
        weights = self.mask(x).flatten(2).softmax(dim=-1)  # (B, 1, HW)
        return torch.matmul(x.flatten(2), weights.transpose(1, 2)).unsqueeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        c = self.context(x)
        out = x if self.mul is None else x * torch.sigmoid(self.mul(c))
        return out if self.add is None else out + self.add(c)
