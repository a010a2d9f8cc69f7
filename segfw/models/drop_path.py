"""Stochastic depth (Huang et al., ECCV 2016) as mmcv's ``DropPath``, random draw for random draw."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DropPath(nn.Module):
    """``forward(x (B, ...)) -> x / keep · floor(keep + u)`` with ``u ~ U[0, 1)`` per sample, keep = 1 - ``p``.

    In eval mode or with ``p = 0`` it returns ``x`` and draws nothing (mmcv's ``drop_path``, so a
    model seeded like mmseg's draws the same masks).
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)).floor()
        return x.div(keep) * mask
