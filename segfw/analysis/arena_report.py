"""What tools/compare.py adds for runs on a dataset with class families (context_arena): the paired
statistics table (:mod:`segfw.analysis.paired_stats`) and the figure of each context family's accuracy
against the distance to its evidence, one line per group with a band over seeds."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segfw.analysis.compare import Comparison, Group, by_seed, mean_std
from segfw.analysis.paired_stats import Paired, noise_floor, paired
from segfw.atomic_write import atomic_write
from segfw.distance_metrics import flat_scores


def family_metrics(cmp: Comparison) -> list[str]:
    """The runs' family scores: ``distance/<family>/<bin>/acc`` of every family and bin, then
    ``family_mIoU/<family>`` (the local control among them); [] for runs without families."""
    flat = flat_scores(cmp.baseline.runs[0].metrics)
    return [k for k in flat if k.endswith("/acc")] + [k for k in flat if k.startswith("family_mIoU/")]


def _cell(result: Paired | None) -> list[str]:
    if result is None:
        return ["n/a", "n/a (needs ≥ 2 shared seeds)", "n/a", ""]
    verdict = ("better" if result.delta > 0 else "worse") if result.resolved else "within noise"
    return [str(result.n), f"{result.delta:+.1f} [{result.low:+.1f}, {result.high:+.1f}]", f"{result.mde:.1f}", verdict]


def stats_table(cmp: Comparison, metrics: Sequence[str]) -> str:
    """Markdown: per metric, a noise-floor row (baseline vs baseline, other seeds) and one row per group:
    mean ± std over seeds, the paired Δ vs the baseline over shared seeds with its 95 % t interval, and
    the minimum detectable effect at that n and spread."""
    base = cmp.baseline
    head = ["metric", "group", "mean ± std", "pairs", "paired Δ [95% CI]", "MDE", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for metric in metrics:
        mean, std = mean_std(base.values(metric))
        floor = noise_floor(by_seed(base, metric))
        lines.append("| " + " | ".join([metric, f"{base.label} vs {base.label} (other seeds)",
                                        f"{mean:.1f} ± {std:.1f}", *_cell(floor)]) + " |")
        for group in cmp.groups:
            if group is base:
                continue
            mean, std = mean_std(group.values(metric))
            result = paired(by_seed(group, metric), by_seed(base, metric))
            lines.append("| " + " | ".join([metric, group.label, f"{mean:.1f} ± {std:.1f}", *_cell(result)]) + " |")
    return "\n".join(lines)


def _bins(group: Group) -> tuple[list[str], list[float]]:
    """Bin names and their lower edges (px) from the runs' dataset config."""
    config = group.runs[0].config
    names = list(config.get("dataset.bin_names") or [])
    edges = [e for e in (config.get("dataset.distance_bins") or []) if e is not None]
    return names, [0.0, *map(float, edges)]


def receptive_field_marks(path: str | Path | None, group: Group) -> dict[str, tuple[float, float]]:
    """``{label: (along rows, along columns)}`` of the vertical marks in px: ERF50, ERF90 radii and the RF
    radius (half its support width) from a tools/receptive_field.py JSON, else the bin edges."""
    if path:
        rf = json.loads(Path(path).read_text())
        return {"ERF50": (rf["erf50_cols"], rf["erf50_rows"]), "ERF90": (rf["erf90_cols"], rf["erf90_rows"]),
                "RF": (rf["rf_cols"] / 2, rf["rf_rows"] / 2)}
    names, lows = _bins(group)
    return {name: (edge, edge) for name, edge in zip(names[1:], lows[1:])}


def distance_figure(cmp: Comparison, path: Path, receptive_field: str | Path | None = None) -> Path | None:
    """One panel per context family: accuracy (mean over seeds, band ± 1 std) per distance bin, plotted at
    the bin's middle (the open last bin at 1.25× its lower edge), one line per group; vertical marks at
    the baseline's ERF / RF. Returns the PNG path, None for runs without families."""
    flat = flat_scores(cmp.baseline.runs[0].metrics)
    families = list(dict.fromkeys(k.split("/")[1] for k in flat if k.startswith("distance/")))
    if not families:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, lows = _bins(cmp.baseline)
    xs = [(lo + hi) / 2 for lo, hi in zip(lows, lows[1:])] + [lows[-1] * 1.25]
    marks = receptive_field_marks(receptive_field, cmp.baseline)
    figure, axes = plt.subplots(1, len(families), figsize=(3.6 * len(families), 3.4), sharey=True, squeeze=False)
    for axis, family in zip(axes[0], families):
        for group in cmp.groups:
            stats_ = [mean_std(group.values(f"distance/{family}/{name}/acc")) for name in names]
            mean = np.array([s[0] for s in stats_])
            std = np.array([0.0 if math.isnan(s[1]) else s[1] for s in stats_])
            line, = axis.plot(xs, mean, marker="o", label=f"{group.label} (n={len(group.runs)})")
            axis.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        for k, (label, (along_rows, along_cols)) in enumerate(marks.items()):
            x = along_cols if family == "column" else along_rows
            axis.axvline(x, color="grey", linestyle=("--", ":", "-")[k % 3], linewidth=1)
            axis.text(x, 101, label, fontsize=7, ha="center", va="bottom", color="grey")
        axis.axhline(50, color="black", linewidth=0.5, linestyle=":")  # chance: two balanced classes
        axis.set_title(family, fontsize=10, pad=12)
        axis.set_xlabel("distance to the evidence (px)")
        axis.set_ylim(0, 108)
    axes[0][0].set_ylabel("accuracy (%), mean ± std over seeds")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)
    return path
