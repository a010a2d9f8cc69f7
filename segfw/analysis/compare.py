"""Compare training runs: group run folders by the config keys that differ, summarise over seeds.

A run folder holds ``config.yaml`` (the resolved config), ``metrics.json`` (the final evaluation:
``mIoU``, ``mAcc``, ``aAcc``, ``per_class``) and, when the trainer wrote it, ``costs.json``
(``train_time_s``, ``peak_memory_MiB``). Parameters and GFLOPs are measured here from the saved
model config (random weights, one image of the dataset's size).

Groups: the keys whose values differ between runs (``seed`` and ``run_dir`` aside) name the
groups; keys that exist only in some runs (a neck's own options) count where they differ among
runs that agree on every key all runs share. Each group's metrics are reported as mean ± sample
standard deviation over its runs (its seeds), and each group is compared with a baseline group by
Welch's t-interval (95 %) on the difference of mean mIoU (and of each class's mean IoU in the
CSV): an interval that contains 0 is "within seed noise".
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from segfw.atomic_write import atomic_write, write_text
from segfw.distance_metrics import flat_scores
from segfw.engine.resume_check import flatten
from segfw.errors import ConfigError
from segfw.output_guard import Inputs, guard_file, guard_folder

IGNORED_KEYS = ("seed", "run_dir", "resume")
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"


@dataclass
class Run:
    """One finished run folder."""

    path: Path
    config: dict[str, Any]  # flattened: "model.neck.name" -> value
    metrics: dict[str, Any]
    costs: dict[str, Any]


@dataclass
class Group:
    """Runs that differ only in their seed."""

    label: str
    keys: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    params_M: float | None = None
    gflops: float | None = None

    def values(self, metric: str) -> np.ndarray:
        """One value per run: ``mIoU``/``mAcc``/``aAcc``, ``IoU.<class>``, a family score
        (``family_mIoU/<family>``, ``distance/<family>/<bin>/acc``: :func:`segfw.distance_metrics.flat_scores`)
        or a ``costs.json`` field."""
        out = []
        for run in self.runs:
            if "/" in metric:
                value = flat_scores(run.metrics).get(metric)
            elif metric.startswith("IoU."):
                value = run.metrics["per_class"].get(metric[4:])
            elif metric in run.metrics:
                value = run.metrics[metric]
            elif metric == "train_time_s" and run.costs.get("train_iterations") == 0:
                value = None  # a run resumed at its end trained nothing in the process that wrote costs.json
            else:
                value = run.costs.get(metric)
            out.append(np.nan if value is None else float(value))
        return np.array(out, dtype=float)


def by_seed(group: Group, metric: str) -> dict[int, float]:
    """``{seed: value}`` of the group's runs (finite values; a seed run twice keeps its last run)."""
    values = group.values(metric)
    return {int(run.config.get("seed", i)): float(v) for i, (run, v) in enumerate(zip(group.runs, values))
            if np.isfinite(v)}


@dataclass
class Difference:
    """Mean of ``group`` minus mean of the baseline, with a 95 % Welch t-interval."""

    delta: float
    low: float
    high: float

    @property
    def within_noise(self) -> bool:
        return not (self.low > 0 or self.high < 0)


def find_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Every finished run (a folder with ``config.yaml`` and ``metrics.json``) at or under ``paths``."""
    found: dict[Path, Run] = {}
    for path in map(Path, paths):
        if not path.is_dir():
            raise ConfigError(f"{path}: no such folder; give run folders or a folder holding them (e.g. a multirun folder)")
        for metrics in sorted([path / "metrics.json"] if (path / "metrics.json").is_file() else path.rglob("metrics.json")):
            folder = metrics.parent
            if not (folder / "config.yaml").is_file() or folder.resolve() in found:
                continue
            config = flatten(yaml.safe_load((folder / "config.yaml").read_text()))
            costs_file = folder / "costs.json"
            costs = json.loads(costs_file.read_text()) if costs_file.is_file() else {}
            found[folder.resolve()] = Run(folder, config, json.loads(metrics.read_text()), costs)
    if not found:
        raise ConfigError(f"no finished run (config.yaml + metrics.json) under {', '.join(map(str, paths))}")
    return list(found.values())


def _value(config: Mapping[str, Any], key: str) -> str:
    return _text(config[key]) if key in config else "-"


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def varying_keys(runs: Sequence[Run]) -> tuple[list[str], dict[tuple, list[str]]]:
    """The keys that tell groups apart: (keys every run has that differ, {values of those: keys
    that only some runs have and that differ among the runs sharing those values})."""
    every = set.intersection(*(set(r.config) for r in runs))
    primary = sorted(k for k in every if k not in IGNORED_KEYS and len({_text(r.config[k]) for r in runs}) > 1)
    partitions: dict[tuple, list[Run]] = {}
    for run in runs:
        partitions.setdefault(tuple(_value(run.config, k) for k in primary), []).append(run)
    secondary = {}
    for values, members in partitions.items():
        keys = set.union(*(set(r.config) for r in members)) - every - set(IGNORED_KEYS)
        secondary[values] = sorted(k for k in keys if len({_value(r.config, k) for r in members}) > 1)
    return primary, secondary


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Runs grouped by their values of the varying keys, in order of first appearance (sorted paths)."""
    primary, secondary = varying_keys(runs)
    usual = {k: Counter(_text(r.config[k]) for r in runs).most_common(1)[0][0] for k in primary}
    groups: dict[tuple, Group] = {}
    for run in sorted(runs, key=lambda r: str(r.path)):
        values = tuple(_value(run.config, k) for k in primary)
        keys = {k: _value(run.config, k) for k in primary}
        keys.update({k: _value(run.config, k) for k in secondary[values]})
        ident = tuple(keys.items())
        if ident not in groups:
            groups[ident] = Group(_label(keys, usual), keys)
        groups[ident].runs.append(run)
    return list(groups.values())


def _label(keys: Mapping[str, str], usual: Mapping[str, str]) -> str:
    """Short name from the last part of each key: ``model.neck.name=ppm`` → ``ppm``,
    ``model.neck.normalize=sigmoid`` → ``normalize=sigmoid``; a shared key at its most common value
    is left out (``strip_pooling_stages=[]`` on every run but one), unless the group has nothing else
    (the fp32 side of ``amp=false`` vs ``amp=true`` is ``amp=False amp_dtype=auto``, not a blank)."""
    def part(key: str, value: str) -> str:
        leaf = key.split(".")[-1]
        return value if leaf == "name" else f"{leaf}={value}"

    parts = [part(k, v) for k, v in keys.items() if k.split(".")[-1] == "name" or usual.get(k) != v]
    return " ".join(parts or [part(k, v) for k, v in keys.items()]) or "all runs"


def measure_costs(group: Group) -> None:
    """Parameters (M) and GFLOPs (per image, 2×MAC) of the group's model, from its first run's config."""
    import torch

    from segfw.analysis.flops import count_flops, count_parameters
    from segfw.models.segmentor import build_segmentor

    config = _unflatten(group.runs[0].config)
    num_classes = len(group.runs[0].metrics["per_class"])
    if config["model"]["backbone"].get("pretrained"):
        config["model"]["backbone"]["pretrained"] = None  # random weights: never download for a count
    model = build_segmentor(config["model"], num_classes).eval()
    size = config.get("dataset", {}).get("image_size") or config["trainer"]["crop_size"]
    group.params_M = count_parameters(model) / 1e6
    with torch.no_grad():
        flops, _ = count_flops(model, torch.zeros(1, 3, int(size[0]), int(size[1])))
    group.gflops = flops / 1e9


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of the finite values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else 0.0


def welch_interval(values: np.ndarray, baseline: np.ndarray, confidence: float = 0.95) -> Difference | None:
    """``mean(values) - mean(baseline)`` with Welch's t-interval; None with fewer than 2 runs a side."""
    a, b = values[np.isfinite(values)], baseline[np.isfinite(baseline)]
    if a.size < 2 or b.size < 2:
        return None
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    delta = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(delta, delta, delta)
    dof = (va + vb) ** 2 / ((va**2 / (a.size - 1) if va else 0) + (vb**2 / (b.size - 1) if vb else 0))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return Difference(delta, delta - half, delta + half)


@dataclass
class Comparison:
    groups: list[Group]
    baseline: Group
    classes: list[str]
    highlight: list[str]  # classes shown in the Markdown table


def compare(paths: Sequence[str | Path], baseline: str | None = None, classes: Sequence[str] | None = None,
            costs: bool = True) -> Comparison:
    """Find, group and (optionally) measure the runs under ``paths``.

    ``baseline``: the label of the group the others are compared with (default: the first group
    whose label contains "identity", else the first group). ``classes``: the per-class IoUs shown
    in the Markdown table (all classes go into the CSV and the chart).
    """
    groups = group_runs(find_runs(paths))
    if baseline is not None:
        matches = [g for g in groups if g.label == baseline] or [g for g in groups if baseline in g.label]
        if not matches:
            raise ConfigError(f"no group named {baseline!r}; groups: {', '.join(g.label for g in groups)}")
        base = matches[0]
    else:
        base = next((g for g in groups if "identity" in g.label), groups[0])
    if costs:
        for group in groups:
            measure_costs(group)
    names = list(groups[0].runs[0].metrics["per_class"])
    shown = list(classes) if classes else names
    unknown = [c for c in shown if c not in names]
    if unknown:
        raise ConfigError(f"unknown class {unknown[0]!r}; the runs' classes are {', '.join(names)}")
    return Comparison(groups, base, names, shown)


def _pm(values: np.ndarray, digits: int = 1) -> str:
    mean, std = mean_std(values)
    return "n/a" if math.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _verdict(cmp: Comparison, group: Group, metric: str = "mIoU") -> str:
    if group is cmp.baseline:
        return "baseline"
    diff = welch_interval(group.values(metric), cmp.baseline.values(metric))
    if diff is None:
        return "n/a (needs ≥ 2 seeds)"
    word = "within seed noise" if diff.within_noise else ("better" if diff.delta > 0 else "worse")
    return f"{diff.delta:+.1f} [{diff.low:+.1f}, {diff.high:+.1f}] {word}"


def markdown_table(cmp: Comparison) -> str:
    """One row per group: mIoU, the highlighted classes' IoU, costs, and Δ mIoU vs the baseline."""
    head = ["group", "seeds", "mIoU", *[f"{c} IoU" for c in cmp.highlight], "params (M)", "GFLOPs",
            "train time (s)", "peak mem (MiB)", f"Δ mIoU vs {cmp.baseline.label} [95% CI]"]
    rows = []
    for g in cmp.groups:
        rows.append([g.label, str(len(g.runs)), _pm(g.values("mIoU")), *[_pm(g.values(f"IoU.{c}")) for c in cmp.highlight],
                     _number(g.params_M, 3), _number(g.gflops, 2), _pm(g.values("train_time_s")),
                     _pm(g.values("peak_memory_MiB"), 0), _verdict(cmp, g)])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def csv_text(cmp: Comparison) -> str:
    """Every group × metric: mean, std, n, and the difference to the baseline with its interval."""
    metrics = ["mIoU", "mAcc", "aAcc", *[f"IoU.{c}" for c in cmp.classes], "train_time_s", "peak_memory_MiB"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", *cmp.groups[0].keys, "seeds", "params_M", "gflops", "metric", "mean", "std",
                     "delta_vs_baseline", "ci_low", "ci_high", "within_seed_noise"])
    for g in cmp.groups:
        for metric in metrics:
            mean, std = mean_std(g.values(metric))
            diff = None if g is cmp.baseline else welch_interval(g.values(metric), cmp.baseline.values(metric))
            writer.writerow([g.label, *[g.keys.get(k, "-") for k in cmp.groups[0].keys], len(g.runs),
                             _number(g.params_M, 4), _number(g.gflops, 4), metric, _number(mean, 3), _number(std, 3),
                             *(("", "", "", "") if diff is None else
                               (f"{diff.delta:.3f}", f"{diff.low:.3f}", f"{diff.high:.3f}", diff.within_noise))])
    return out.getvalue()


def bar_chart(cmp: Comparison, path: Path) -> None:
    """Grouped bars with ±1 std error bars: mIoU and each class's IoU, one colour per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["mIoU", *[f"IoU.{c}" for c in cmp.classes]]
    width = 0.8 / len(cmp.groups)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.2 * len(metrics) * max(1, len(cmp.groups) / 4)), 4.5))
    xs = np.arange(len(metrics))
    for i, g in enumerate(cmp.groups):
        stats_ = [mean_std(g.values(m)) for m in metrics]
        ax.bar(xs + (i - (len(cmp.groups) - 1) / 2) * width, [s[0] for s in stats_], width,
               yerr=[s[1] for s in stats_], capsize=2, label=f"{g.label} (n={len(g.runs)})")
    ax.set_xticks(xs, ["mIoU", *cmp.classes], rotation=30, ha="right")
    ax.set_ylabel("IoU (%), mean ± std over seeds")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def report(cmp: Comparison, command: str) -> str:
    """The Markdown block: the command that regenerates it, the table, and how to read it."""
    return (
        f"Regenerate with:\n\n```bash\n{command}\n```\n\n{markdown_table(cmp)}\n\n"
        "IoU in %, mean ± sample std over seeds. params/GFLOPs: whole model, one image (2×MAC); "
        "train time: seconds in training steps (wall clock, shared CPU); peak mem: CUDA allocated, "
        "or the process's peak RSS on CPU. Δ: difference of mean mIoU with a 95 % Welch t-interval; "
        "\"within seed noise\" when the interval contains 0.\n"
    )


OUTPUT_NAMES = {"markdown": "comparison.md", "csv": "comparison.csv", "chart": "comparison.png"}
RUN_FILES = ("config.yaml", "metrics.json", "costs.json")  # what :func:`find_runs` reads from each run


def compared_inputs(cmp: Comparison) -> Inputs:
    """The files the comparison was made from (each run's config, metrics and costs) and its checkpoints."""
    inputs = Inputs()
    for group in cmp.groups:
        for run in group.runs:
            for name in RUN_FILES:
                inputs.file(run.path / name if (run.path / name).exists() else None, "compared run's file")
            inputs.folder(run.path / "checkpoints" if (run.path / "checkpoints").is_dir() else None, "checkpoints")
    return inputs


def write_outputs(cmp: Comparison, folder: Path, command: str) -> dict[str, Path]:
    """``comparison.md``, ``comparison.csv`` and ``comparison.png`` in ``folder`` (default: the first run folder).

    Each file is checked, resolved through symlinks, against the runs' files before anything is written, and
    written atomically; an earlier comparison's files of these names are regenerated (replaced)."""
    guard_folder(folder, "--output", compared_inputs(cmp), OUTPUT_NAMES.values(), overwrite=True)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in OUTPUT_NAMES.items()}
    write_text(paths["markdown"], report(cmp, command))
    write_text(paths["csv"], csv_text(cmp))
    atomic_write(paths["chart"], lambda tmp: bar_chart(cmp, tmp))
    return paths


def update_document(path: Path, block: str) -> None:
    """Put ``block`` between the ``<!-- compare:begin -->`` / ``<!-- compare:end -->`` markers of
    ``path`` (appended, with markers, when the file or the markers do not exist yet). ``path`` must be a
    Markdown file (``.md``), so a run's ``metrics.json`` or ``config.yaml`` can never be rewritten; the
    rest of the file is kept and the new text replaces it atomically."""
    if Path(path).suffix.lower() != ".md":
        raise ConfigError(f"--update={path} is not a Markdown file; give --update= a .md document (e.g. docs/results.md)")
    path = guard_file(path, "--update", Inputs(), overwrite=True)
    text = path.read_text() if path.is_file() else ""
    generated = f"{BEGIN}\n{block.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: generated, text, count=1, flags=re.S)
    else:
        text = (text.rstrip() + "\n\n" if text else "") + generated + "\n"
    write_text(path, text)
