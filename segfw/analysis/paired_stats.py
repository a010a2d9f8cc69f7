"""Paired comparisons of runs that share a seed (same data order, same backbone / head initialisation).

For a metric, group ``g`` and the baseline ``b`` with values ``g_s`` and ``b_s`` for the seeds ``s``
both have (n of them): ``d_s = g_s - b_s``,

- paired Δ = mean(d), its 95 % interval ``mean(d) ± t_{0.975, n-1} · sd(d) / sqrt(n)`` (sd with ddof=1);
- minimum detectable effect (two-sided α = 0.05, power 0.8) at that n and that spread of the paired
  differences: ``MDE = (t_{0.975, n-1} + t_{0.8, n-1}) · sd(d) / sqrt(n)``;
- noise floor: the baseline against itself with other seeds: its seeds in order, the first half paired
  with the second half (``d_i = b_{s_i} - b_{s_{i + n//2}}``, n//2 pairs), through the same formulas.
  A real difference should clear it; its interval shows how wide seed noise alone is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True)
class Paired:
    """Paired Δ (group − baseline) over ``n`` shared seeds with its 95 % t interval and the MDE."""

    n: int
    delta: float
    low: float
    high: float
    sd: float
    mde: float

    @property
    def resolved(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0


def paired_differences(differences: np.ndarray) -> Paired | None:
    """:class:`Paired` of the differences (finite ones); None with fewer than 2."""
    d = differences[np.isfinite(differences)]
    n = d.size
    if n < 2:
        return None
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    t_half = float(stats.t.ppf(1 - ALPHA / 2, n - 1))
    mde = (t_half + float(stats.t.ppf(POWER, n - 1))) * se
    return Paired(n, mean, mean - t_half * se, mean + t_half * se, sd, mde)


def paired(group: Mapping[int, float], baseline: Mapping[int, float]) -> Paired | None:
    """Paired comparison over the seeds both mappings (seed -> value) hold."""
    seeds = sorted(set(group) & set(baseline))
    return paired_differences(np.array([group[s] - baseline[s] for s in seeds], dtype=float))


def noise_floor(baseline: Mapping[int, float]) -> Paired | None:
    """The baseline against itself with other seeds (first half of its seeds vs the second half)."""
    values = [baseline[s] for s in sorted(baseline)]
    half = len(values) // 2
    return paired_differences(np.array([values[i] - values[i + half] for i in range(half)], dtype=float))
