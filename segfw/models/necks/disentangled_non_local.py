"""Disentangled non-local block (Yin et al., "Disentangled Non-Local Neural Networks", ECCV 2020)."""

from __future__ import annotations

from torch import Tensor, nn

from segfw.errors import ConfigError
from segfw.models.necks.non_local import NonLocal
from segfw.registry import NECKS


@NECKS.register("disentangled_non_local")
class DisentangledNonLocal(NonLocal):
    """DNL: the non-local block's pairwise term on whitened embeddings plus a unary term.

    ``forward(x (B, C, H, W)) -> (B, C, H, W)``, N = H·W pixels, θ, φ, g the 1×1 convs C → d
    (d = C / ``reduction``) of :class:`NonLocal`::

        θ̄ = θ − mean_n θ,  φ̄ = φ − mean_n φ                        whitened (per image, per channel)
        y_i = Σ_j softmax_j(θ̄_iᵀ φ̄_j / (√d · τ)) g_j               pairwise (τ = ``temperature``;
                                                                  score=dot drops the √d)
        u = Σ_j softmax_j(m_j) g_j,  m = W_m x                    unary: one vector per image (W_m: C → 1)
        z = x + BN(W_z (y + u))                                   W_z: 1×1 conv d → C, BN scale 0 at start

    As mmseg's ``DisentangledNonLocal2d`` (``DNLHead``, ``mode="embedded_gaussian"``): same layers,
    same initialisation (θ, φ, g from N(0, 0.01²), W_m PyTorch's default, the block starts as the
    identity). Cost O(N²·d).
    """

    def __init__(self, in_channels: int, reduction: int = 2, temperature: float = 0.05,
                 score: str = "scaled_dot", heads: int = 1):
        if score not in ("scaled_dot", "dot"):
            raise ConfigError(f"disentangled_non_local score must be 'scaled_dot' (mmseg's use_scale) or 'dot', got {score!r}")
        if temperature <= 0:
            raise ConfigError(f"disentangled_non_local temperature must be positive, got {temperature}")
        super().__init__(in_channels, reduction, score, "softmax", heads)
        self.temperature = temperature
        self.mask = nn.Conv2d(in_channels, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        def pixels(t: Tensor) -> Tensor:
            return t.flatten(2).transpose(1, 2)  # (B, N, c)

        convs = self.attention
        query, key, value = pixels(convs.query(x)), pixels(convs.key(x)), pixels(convs.value(x))
        query = (query - query.mean(1, keepdim=True)) / self.temperature
        key = key - key.mean(1, keepdim=True)
        y = convs.attention(query, key, value)  # (B, N, d)
        unary = pixels(self.mask(x)).softmax(dim=1).transpose(1, 2) @ value  # (B, 1, d)
        return x + self.project((y + unary).transpose(1, 2).unflatten(2, x.shape[-2:]))
