"""HamNet's Hamburger with NMF (Geng et al., "Is Attention Better Than Matrix Decomposition?", ICLR 2021), as
mmseg 1.2.2's ``Hamburger`` / ``NMF2D`` in SegNeXt's light head."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.models.layers import ConvGNReLU

EPS = 1e-6  # added to every multiplicative-update denominator, as mmseg's


class NMF2D(nn.Module):
    """Non-negative matrix factorisation of a feature map by multiplicative updates.

    ``forward(x (B, C, H, W)) -> (B, C, H, W)``: with S = ``groups``, X (B·S, D, N) the map split into S groups of
    D = C / S channels over N = H·W positions, bases U (B·S, D, R) of rank R = ``rank``, uniform on [0, 1) and
    L2-normalised over D, and coefficients V = softmax_R(Xᵀ U) (B·S, N, R), ``steps`` updates

        V ← V ⊙ (Xᵀ U) / (V Uᵀ U + ε),   U ← U ⊙ (X V) / (U Vᵀ V + ε)

    (``train_steps`` in training, ``eval_steps`` in eval), one last V update, and the output U Vᵀ. Gradients
    flow through every step, as mmseg 1.2.2's (HamNet's paper proposes a one-step gradient; mmseg does not).
    The softmax temperature is 1: mmseg's configs pass ``inv_t=100``, which its ``NMF2D`` overrides with 1.

    Randomness (``rand_init``, mmseg's switch of the same name):

    - ``True``, mmseg's SegNeXt setting: new bases at every forward, in training AND in eval, drawn from
      PyTorch's global generator on the CPU (``torch.rand``, then moved to x's device, as mmseg does). Under one
      ``torch.manual_seed`` segfw and mmseg draw the same bases; eval is then stochastic, as mmseg's.
    - ``False`` (the default here): one set of bases (S, D, R), drawn from the global generator when the module
      is built, kept as the buffer ``bases`` (saved in checkpoints; mmseg's ``ham.bases``) and repeated over the
      batch: a deterministic eval and an exportable graph.
    """

    def __init__(self, channels: int, rank: int = 16, groups: int = 1, train_steps: int = 6, eval_steps: int = 7,
                 rand_init: bool = False):
        super().__init__()
        if channels % groups:
            raise ConfigError(f"NMF2D: channels {channels} are not divisible by groups {groups}")
        self.rank, self.groups, self.dim = rank, groups, channels // groups
        self.train_steps, self.eval_steps = train_steps, eval_steps
        self.rand_init = rand_init
        if not rand_init:
            self.register_buffer("bases", self.draw_bases(groups, torch.empty(0)))

    def draw_bases(self, count: int, like: Tensor) -> Tensor:
        """(count, D, R) bases from the global CPU generator, unit L2 norm over D, in ``like``'s dtype and device."""
        bases = torch.rand((count, self.dim, self.rank)).to(device=like.device, dtype=like.dtype)
        return F.normalize(bases, dim=1)

    @staticmethod
    def update_coef(x: Tensor, bases: Tensor, coef: Tensor) -> Tensor:
        return coef * torch.bmm(x.transpose(1, 2), bases) / (coef.bmm(bases.transpose(1, 2).bmm(bases)) + EPS)

    @staticmethod
    def update_bases(x: Tensor, bases: Tensor, coef: Tensor) -> Tensor:
        return bases * torch.bmm(x, coef) / (bases.bmm(coef.transpose(1, 2).bmm(coef)) + EPS)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        x_flat = x.reshape(b * self.groups, self.dim, h * w)
        bases = self.draw_bases(b * self.groups, x) if self.rand_init else self.bases.to(x.dtype).repeat(b, 1, 1)
        coef = F.softmax(torch.bmm(x_flat.transpose(1, 2), bases), dim=-1)
        for _ in range(self.train_steps if self.training else self.eval_steps):
            coef = self.update_coef(x_flat, bases, coef)
            bases = self.update_bases(x_flat, bases, coef)
        coef = self.update_coef(x_flat, bases, coef)
        return torch.bmm(bases, coef.transpose(1, 2)).reshape(b, c, h, w)


class Hamburger(nn.Module):
    """``y = ReLU(x + GN(W_out · NMF(ReLU(W_in x + b_in))))``: two 1×1 "bread" convs around the NMF "ham"
    (W_in with bias, W_out without, then GroupNorm of ``math.gcd(gn_groups, C)`` groups). (B, C, H, W) → (B, C, H, W)."""

    def __init__(self, channels: int, nmf: NMF2D, gn_groups: int = 32):
        super().__init__()
        self.ham_in = nn.Conv2d(channels, channels, 1)
        self.nmf = nmf
        self.ham_out = ConvGNReLU(channels, channels, 1, math.gcd(gn_groups, channels), relu=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.ham_out(self.nmf(F.relu(self.ham_in(x)))))
