"""Theoretical and effective receptive field of a dense model, measured from input gradients.

For an output logit ``y[b, k, i, j]`` of a model ``f: (B, C, H, W) -> (B, K, h, w)`` the map
``g = sum_c |d y / d x[b, c]|`` (shape (H, W)) is its gradient footprint on the input.

- theoretical RF along rows / columns: the extent (max - min + 1) of the support ``g != 0``
  projected on the column axis / row axis;
- effective RF (Luo et al., NeurIPS 2016): ``ERF_p`` is the smallest radius ``r`` (pixels from the
  input point under the logit) such that the marginal of ``g`` along that axis holds a fraction
  ``p`` of its mass within ``|d| <= r``.

Averaging over positions and random inputs is done by :func:`measure` (mean of the footprints).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ReceptiveField:
    """Extents in input pixels: ``rf_*`` full support width, ``erf50_*`` / ``erf90_*`` radii."""

    rf_rows: int
    rf_cols: int
    erf50_rows: int
    erf50_cols: int
    erf90_rows: int
    erf90_cols: int


def input_gradient(model: nn.Module, x: torch.Tensor, position: tuple[int, int], channel: int = 0) -> torch.Tensor:
    """|d logit / d input| summed over input channels and batch: (H, W) for ``x`` of shape (B, C, H, W).

    ``position`` is ``(i, j)`` in the model's output grid.
    """
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    out[:, channel, position[0], position[1]].sum().backward()
    return x.grad.abs().sum(dim=(0, 1))


def support_extent(footprint: torch.Tensor) -> tuple[int, int]:
    """(rows, cols) widths of the non-zero support of a (H, W) footprint."""
    rows = torch.nonzero(footprint.sum(dim=1) > 0).flatten()
    cols = torch.nonzero(footprint.sum(dim=0) > 0).flatten()
    if rows.numel() == 0:
        return 0, 0
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def mass_radius(marginal: torch.Tensor, centre: int, fraction: float) -> int:
    """Smallest r with ``sum_{|d - centre| <= r} marginal[d] >= fraction * sum(marginal)`` (1-D)."""
    total = marginal.sum()
    if total <= 0:
        return 0
    distance = (torch.arange(marginal.numel(), device=marginal.device) - centre).abs()
    for r in range(int(distance.max()) + 1):
        if marginal[distance <= r].sum() >= fraction * total * (1 - 1e-12):
            return r
    return int(distance.max())


def receptive_field(footprint: torch.Tensor, centre: tuple[int, int]) -> ReceptiveField:
    """Theoretical and effective RF of one (H, W) footprint around input point ``centre = (row, col)``."""
    rf_rows, rf_cols = support_extent(footprint)
    along_rows = footprint.sum(dim=1)  # marginal over columns: extent along the row index
    along_cols = footprint.sum(dim=0)
    return ReceptiveField(
        rf_rows=rf_rows,
        rf_cols=rf_cols,
        erf50_rows=mass_radius(along_rows, centre[0], 0.5),
        erf50_cols=mass_radius(along_cols, centre[1], 0.5),
        erf90_rows=mass_radius(along_rows, centre[0], 0.9),
        erf90_cols=mass_radius(along_cols, centre[1], 0.9),
    )


def measure(model: nn.Module, input_size: tuple[int, int], in_channels: int = 3, inputs: int = 2,
            positions: int = 3, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[ReceptiveField, torch.Tensor]:
    """RF of ``model`` at ``input_size = (H, W)``: footprints of the output logits at ``positions``
    points along the output's diagonal, each re-centred on its input point and averaged over
    ``inputs`` standard-normal inputs. Returns the RF and the mean (2H - 1, 2W - 1) footprint
    (centre at (H - 1, W - 1)), the heatmap to plot."""
    height, width = input_size
    generator = torch.Generator().manual_seed(seed)
    model = model.eval()
    probe = model(torch.zeros(1, in_channels, height, width, dtype=dtype))
    out_h, out_w = probe.shape[-2:]
    mean = torch.zeros(2 * height - 1, 2 * width - 1, dtype=torch.float64)
    for k in range(positions):
        t = (k + 1) / (positions + 1)
        i, j = int(t * out_h), int(t * out_w)
        row, col = int((i + 0.5) * height / out_h), int((j + 0.5) * width / out_w)
        for _ in range(inputs):
            x = torch.randn(1, in_channels, height, width, generator=generator).to(dtype)
            footprint = input_gradient(model, x, (i, j)).double()
            mean[height - 1 - row:2 * height - 1 - row, width - 1 - col:2 * width - 1 - col] += footprint
    mean /= positions * inputs
    return receptive_field(mean, (height - 1, width - 1)), mean
