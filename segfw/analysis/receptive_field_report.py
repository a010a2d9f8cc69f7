"""What ``tools/receptive_field.py`` does: a model (a preset with random weights, or a trained checkpoint),
its receptive field at one input size (:mod:`segfw.analysis.receptive_field`), a table, a heatmap PNG and
the numbers as JSON beside it.

The PNG and JSON are ``<output>/<name>_<H>x<W>.{png,json}``; an existing file is never replaced without
``overwrite=true``. The theoretical RF is the support of the centre logit's footprint (one gradient);
the ERF radii come from the footprint averaged over positions and inputs. ``erf=false`` measures the
theoretical RF only (no heatmap; the ERF fields then come from the one footprint): cheap enough to run
on every preset.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from segfw.analysis.receptive_field import ReceptiveField, input_gradient, measure, receptive_field
from segfw.atomic_write import atomic_write, write_text
from segfw.engine.checkpoint import model_from_checkpoint
from segfw.errors import ConfigError
from segfw.models.segmentor import build_segmentor


def model_for(cfg: DictConfig, preset: str) -> tuple[torch.nn.Module, str, int, str]:
    """``(model in eval mode, name, input channels, weights)``: the checkpoint's trained model (through the
    safe loader) when ``checkpoint`` is set, else the preset with random weights."""
    if cfg.get("checkpoint"):
        model, run_cfg, _ = model_from_checkpoint(cfg.checkpoint)
        path = Path(cfg.checkpoint)
        name = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
        return model.float().eval(), name, int(OmegaConf.select(run_cfg, "model.in_channels", default=3) or 3), "trained"
    node = OmegaConf.to_container(cfg.model, resolve=True)
    torch.manual_seed(cfg.seed)
    if "pretrained" in node["backbone"]:
        node["backbone"]["pretrained"] = None  # random weights: nothing is downloaded
    model = build_segmentor(node, cfg.num_classes)
    return model.eval(), preset, int(node.get("in_channels", 3) or 3), "random"


def theoretical_rf(model: torch.nn.Module, size: tuple[int, int], in_channels: int) -> ReceptiveField:
    """RF of the logit at the input's centre from one gradient of a random input (ERF fields from that one footprint)."""
    height, width = size
    x = torch.randn(1, in_channels, height, width, generator=torch.Generator().manual_seed(0))
    out_h, out_w = model(torch.zeros_like(x)).shape[-2:]
    i, j = out_h // 2, out_w // 2
    centre = (int((i + 0.5) * height / out_h), int((j + 0.5) * width / out_w))
    return receptive_field(input_gradient(model, x, (i, j)).double(), centre)


def format_rf_table(name: str, size: tuple[int, int], rf: ReceptiveField, weights: str) -> str:
    """The table the tool prints: RF support width and ERF50 / ERF90 radii, along rows and columns."""
    lines = [f"receptive field of {name} at {size[0]}x{size[1]} ({weights} weights)",
             f"{'':<24}{'rows':>6}{'cols':>6}",
             f"{'RF (support width, px)':<24}{rf.rf_rows:>6}{rf.rf_cols:>6}",
             f"{'ERF50 (radius, px)':<24}{rf.erf50_rows:>6}{rf.erf50_cols:>6}",
             f"{'ERF90 (radius, px)':<24}{rf.erf90_rows:>6}{rf.erf90_cols:>6}"]
    if rf.rf_rows >= size[0] or rf.rf_cols >= size[1]:
        lines.append("the RF fills the input: give a larger input=[H,W] to see its full width")
    return "\n".join(lines)


def save_heatmap(path: Path, heat: torch.Tensor, rf: ReceptiveField, title: str) -> None:
    """The mean gradient footprint (centre at the middle) on a log scale, ERF50 / ERF90 boxes drawn on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    h, w = heat.shape
    cy, cx = (h - 1) // 2, (w - 1) // 2
    shown = (heat / heat.max().clamp(min=1e-30)).clamp(min=1e-6).log10().numpy()
    figure, axis = plt.subplots(figsize=(5, 5 * h / w + 0.6))
    image = axis.imshow(shown, cmap="magma", extent=(-cx - 0.5, w - cx - 0.5, h - cy - 0.5, -cy - 0.5))
    for radius_r, radius_c, colour, label in ((rf.erf50_rows, rf.erf50_cols, "cyan", "ERF50"),
                                              (rf.erf90_rows, rf.erf90_cols, "lime", "ERF90")):
        axis.add_patch(Rectangle((-radius_c - 0.5, -radius_r - 0.5), 2 * radius_c + 1, 2 * radius_r + 1,
                                 fill=False, edgecolor=colour, label=label))
    axis.set_title(title, fontsize=9)
    axis.set_xlabel("column offset (px)")
    axis.set_ylabel("row offset (px)")
    axis.legend(loc="upper right", fontsize=7)
    figure.colorbar(image, ax=axis, label="log10 gradient (of max)", shrink=0.8)
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    plt.close(figure)


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    for path in paths:
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} exists; give overwrite=true to replace it or another output=DIR")


def receptive_field_report(cfg: DictConfig, preset: str) -> tuple[ReceptiveField, str]:
    """Measure, print-ready table, and (``output`` set) the PNG + JSON; returns ``(rf, table)``."""
    if len(cfg.input) != 2:
        raise ConfigError(f"input={list(cfg.input)} must be [H, W]")
    size = (int(cfg.input[0]), int(cfg.input[1]))
    model, name, channels, weights = model_for(cfg, preset)
    stem = Path(cfg.output) / f"{name}_{size[0]}x{size[1]}" if cfg.get("output") else None
    targets = [stem.with_suffix(".json")] + ([stem.with_suffix(".png")] if cfg.erf else []) if stem else []
    refuse_existing(targets, bool(cfg.overwrite))
    heat = None
    rf = theoretical_rf(model, size, channels)
    if cfg.erf:  # the support of one logit's footprint (the mean footprint's is the union over positions)
        erf, heat = measure(model, size, channels, inputs=cfg.inputs, positions=cfg.positions, seed=cfg.seed)
        rf = replace(erf, rf_rows=rf.rf_rows, rf_cols=rf.rf_cols)
    table = format_rf_table(name, size, rf, weights)
    if stem is not None:
        record = {"model": name, "input": list(size), "weights": weights, "erf_measured": bool(cfg.erf), **asdict(rf)}
        write_text(stem.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
        if heat is not None:
            save_heatmap(stem.with_suffix(".png"), heat, rf, f"{name} at {size[0]}x{size[1]} ({weights} weights)")
        table += "\nwrote " + ", ".join(str(p) for p in targets)
    return rf, table
