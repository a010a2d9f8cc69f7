"""Asymmetric non-local blocks (Zhu et al., "Asymmetric Non-local Neural Networks for Semantic Segmentation", ICCV 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.models.attention import Attention
from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS


def pyramid_pool(x: Tensor, scales: Sequence[int]) -> Tensor:
    """(B, C, H, W) → (B, C, S): adaptive average pooling to s×s cells for each s, cells concatenated
    (S = Σ s²), as mmseg's ``PPMConcat``."""
    return torch.cat([F.adaptive_avg_pool2d(x, s).flatten(2) for s in scales], dim=2)


class PyramidKeyAttention(nn.Module):
    """Every query pixel attends to the S pyramid-pooled cells of a key map (mmseg ANN's ``SelfAttentionBlock``).

    ``forward(query (B, C_q, H, W), key (B, C_k, h, w)) -> (B, out_channels, H, W)``::

        q = CBR_1×1(query)          C_q → d (``channels``)
        k = P(CBR_1×1(key))         C_k → d, then :func:`pyramid_pool` (S cells)
        v = P(W_v key)              1×1 conv C_k → d, pooled the same way
        y = W_o softmax(q kᵀ / √d) v    W_o: 1×1 conv d → out_channels, zero at start (as mmseg)

    With ``share_query`` the query uses the key's projection (C_q = C_k; APNB). Cost O(H·W·S·d) with S
    independent of the key map's size (110 cells for scales 1, 3, 6, 8).
    """

    def __init__(self, query_channels: int, key_channels: int, channels: int, out_channels: int,
                 pool_scales: Sequence[int], share_query: bool = False):
        super().__init__()
        self.pool_scales = [int(s) for s in pool_scales]
        self.key = ConvBNReLU(key_channels, channels, kernel_size=1)
        self.query = self.key if share_query else ConvBNReLU(query_channels, channels, kernel_size=1)
        self.value = nn.Conv2d(key_channels, channels, 1)
        self.out = nn.Conv2d(channels, out_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.attention = Attention(channels, "scaled_dot", "softmax")

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        q = self.query(query).flatten(2).transpose(1, 2)  # (B, N, d)
        k = pyramid_pool(self.key(key), self.pool_scales).transpose(1, 2)  # (B, S, d)
        v = pyramid_pool(self.value(key), self.pool_scales).transpose(1, 2)
        y = self.attention(q, k, v).transpose(1, 2).unflatten(2, query.shape[-2:])
        return self.out(y)


@NECKS.register("asymmetric_non_local")
class AsymmetricNonLocal(nn.Module):
    """ANN's context module: AFNB fuses a second, shallower level into x, APNB then relates x to itself.

    ``forward(x (B, C, H, W), context (B, C_c, h, w)) -> (B, channels, H, W)``; ``context`` is the level
    named by the neck node's ``context_level`` (c4 for mmseg's ANN on a ResNet: 1024 channels, the same
    stride as c5 at output stride 8; any size works, its keys are pooled)::

        f = BN(W_f [A_f(x, context), x])          AFNB: A_f a PyramidKeyAttention (queries x, keys context,
                                                  C, C_c → d → C), W_f a 1×1 conv 2C → C, no activation
        f = CBR_3×3(dropout(f))                   C → c (``channels``); Dropout2d(``dropout``) as mmseg
        y = CBR_1×1([A_p(f, f), f])               APNB: A_p with one projection for queries and keys
                                                  (c → d → c), then 1×1 ConvBNReLU 2c → c

    d = ``key_channels`` (mmseg's ``project_channels``), keys pooled at ``pool_scales``. As mmseg's
    ``ANNHead`` without its classifier (query_scales (1,)). Cost O(H·W·S·d + H·W·C·c·9), S = Σ s².
    """

    def __init__(self, in_channels: int, context_channels: int, channels: int | None = None,
                 key_channels: int | None = None, pool_scales: Sequence[int] = (1, 3, 6, 8), dropout: float = 0.1):
        super().__init__()
        channels = channels or in_channels
        key_channels = key_channels or max(channels // 2, 1)
        if not pool_scales or min(int(s) for s in pool_scales) < 1:
            raise ConfigError(f"asymmetric_non_local pool_scales must be positive integers, got {list(pool_scales)}")
        self.fusion = PyramidKeyAttention(in_channels, context_channels, key_channels, in_channels, pool_scales)
        self.fusion_project = ConvBNReLU(2 * in_channels, in_channels, kernel_size=1, relu=False)
        self.dropout = nn.Dropout2d(dropout)
        self.reduce = ConvBNReLU(in_channels, channels)
        self.context = PyramidKeyAttention(channels, channels, key_channels, channels, pool_scales, share_query=True)
        self.context_project = ConvBNReLU(2 * channels, channels, kernel_size=1)
        self.out_channels = channels

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        f = self.fusion_project(torch.cat([self.fusion(x, context), x], dim=1))
        f = self.reduce(self.dropout(f))
        return self.context_project(torch.cat([self.context(f, f), f], dim=1))
