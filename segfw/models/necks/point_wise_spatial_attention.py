"""Point-wise spatial attention (Zhao et al., "PSANet: Point-wise Spatial Attention Network for Scene Parsing", ECCV 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.layers import ConvBNReLU
from segfw.registry import NECKS, ConfigError

PSA_TYPES = ("collect", "distribute", "bi-direction")


def psa_mask(a: Tensor, kind: str, mask_size: Sequence[int]) -> Tensor:
    """PSANet's point-wise mask in plain PyTorch (mmcv's compiled ``PSAMask`` op).

    ``a`` (B, m_h·m_w, H, W): at each pixel p, one score per relative offset d = (d_h, d_w) with
    |d_h| ≤ (m_h − 1)/2, |d_w| ≤ (m_w − 1)/2, stored at channel (d_h + ⌊(m_h−1)/2⌋)·m_w + d_w + ⌊(m_w−1)/2⌋.
    Returns y (B, H·W, H, W), pixels j = (j_h, j_w) flattened row-major on dim 1:

    - ``collect``:    y[b, j, p] = a[b, offset(j − p), p]  (p gathers from j, scored at p)
    - ``distribute``: y[b, j, p] = a[b, offset(p − j), j]  (j sends to p, scored at j)

    and 0 where the offset falls outside the m_h × m_w window (as mmcv; those zeros still enter the
    softmax that follows). ``a`` must have m_h·m_w channels.
    """
    if kind not in ("collect", "distribute"):
        raise ConfigError(f"psa_mask kind must be 'collect' or 'distribute', got {kind!r}")
    mh, mw = mask_size
    b, m, h, w = a.shape
    if m != mh * mw:
        raise ConfigError(f"psa_mask: {m} score channels, but mask_size {mh}x{mw} needs {mh * mw}")
    rows = torch.arange(h, device=a.device).repeat_interleave(w)  # (HW,) row of each flat pixel
    cols = torch.arange(w, device=a.device).repeat(h)
    dh = rows[:, None] - rows[None, :] + (mh - 1) // 2  # [j, p]: offset of j from p, window-indexed
    dw = cols[:, None] - cols[None, :] + (mw - 1) // 2
    inside = (dh >= 0) & (dh < mh) & (dw >= 0) & (dw < mw)
    index = (dh.clamp(0, mh - 1) * mw + dw.clamp(0, mw - 1)).expand(b, -1, -1)
    gathered = torch.gather(a.flatten(2), 1, index) * inside  # [b, j, p] = a[b, offset(j − p), p]
    if kind == "distribute":  # [b, j, p] = a[b, offset(p − j), j]
        gathered = gathered.transpose(1, 2)
    return gathered.reshape(b, h * w, h, w)


class _Branch(nn.Module):
    """One PSA direction: 1×1 CBR C → c, then scores: 1×1 CBR c → c, 1×1 conv c → m_h·m_w (no bias)."""

    def __init__(self, in_channels: int, channels: int, mask_size: Sequence[int]):
        super().__init__()
        self.reduce = ConvBNReLU(in_channels, channels, kernel_size=1)
        self.attention = nn.Sequential(ConvBNReLU(channels, channels, kernel_size=1),
                                       nn.Conv2d(channels, mask_size[0] * mask_size[1], 1, bias=False))


@NECKS.register("point_wise_spatial_attention")
class PointWiseSpatialAttention(nn.Module):
    """PSANet's context module (mmseg's ``PSAHead`` without its classifier).

    ``forward(x (B, C, H, W)) -> (B, channels, H, W)``, per direction (``collect``, ``distribute``,
    or both for ``bi-direction``)::

        r = CBR_1×1(x)                         C → c (``channels``; None: c = C)
        r = resize(r, (h', w'))                ``shrink_factor`` s: h' = ⌈H/s⌉, w' = ⌈W/s⌉ with
                                               align_corners when both H and W are not multiples of s,
                                               else h' = ⌊H/s⌋, w' = ⌊W/s⌋ without (as mmseg)
        A = conv_1×1(CBR_1×1(r))               (B, m_h·m_w, h', w'): a score per relative offset
        Y = softmax_j(psa_mask(A))             (B, h'w', h', w'); ``softmax: false`` skips it
        o[:, :, p] = Σ_j r[:, :, j] Y[:, j, p] / ``normalization_factor`` (None: m_h·m_w)

    then y = CBR_1×1 of the concatenated directions (c·n → C) **with padding 1**, as mmseg's
    ``proj`` (a 1×1 conv with padding=1: its output is (h' + 2) × (w' + 2), a border of
    relu(BN(0)) included), resized bilinearly to H × W (align_corners as above; with s = 1 the
    model's), and out = CBR_3×3([x, y]) (2C → c). ``mask_size`` (m_h, m_w) must cover every offset
    of the shrunken map (m ≥ 2h' − 1) for every pixel to see every other (mmseg's 97×97 for 97×97
    maps); offsets outside it score 0. Cost O(h'w'·(m_h·m_w·c + h'w'·c)).
    """

    def __init__(self, in_channels: int, channels: int | None = None, mask_size: Sequence[int] = (97, 97),
                 psa_type: str = "bi-direction", shrink_factor: int = 2, normalization_factor: float | None = 1.0,
                 softmax: bool = True):
        super().__init__()
        if psa_type not in PSA_TYPES:
            raise ConfigError(f"point_wise_spatial_attention psa_type must be one of {', '.join(PSA_TYPES)}, got {psa_type!r}")
        channels = channels or in_channels
        self.mask_size = tuple(int(m) for m in mask_size)
        self.kinds = ["collect", "distribute"] if psa_type == "bi-direction" else [psa_type]
        self.shrink_factor, self.softmax = shrink_factor, softmax
        self.normalization_factor = normalization_factor or self.mask_size[0] * self.mask_size[1]
        self.branches = nn.ModuleList(_Branch(in_channels, channels, self.mask_size) for _ in self.kinds)
        self.proj = ConvBNReLU(channels * len(self.kinds), in_channels, kernel_size=1, padding=1)
        self.bottleneck = ConvBNReLU(2 * in_channels, channels)
        self.out_channels = channels
        self.align_corners = False  # the model's (set_align_corners); used when shrink_factor is 1

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        s, align_corners = self.shrink_factor, self.align_corners
        if s != 1:
            align_corners = bool(h % s and w % s)
            h, w = ((h - 1) // s + 1, (w - 1) // s + 1) if align_corners else (h // s, w // s)
        outs = []
        for kind, branch in zip(self.kinds, self.branches):
            r = branch.reduce(x)
            if s != 1:
                r = F.interpolate(r, size=(h, w), mode="bilinear", align_corners=align_corners)
            y = psa_mask(branch.attention(r), kind, self.mask_size)
            if self.softmax:
                y = y.softmax(dim=1)
            outs.append(torch.bmm(r.flatten(2), y.flatten(2)).view_as(r) * (1.0 / self.normalization_factor))
        y = F.interpolate(self.proj(torch.cat(outs, dim=1)), size=x.shape[-2:], mode="bilinear",
                          align_corners=align_corners)
        return self.bottleneck(torch.cat([x, y], dim=1))
