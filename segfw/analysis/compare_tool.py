"""What tools/compare.py does with its options: compare, print, write the files (see that tool)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segfw.analysis.arena_report import distance_figure, family_metrics, stats_table
from segfw.analysis.compare import compare, report, update_document, write_outputs
from segfw.atomic_write import write_text


def run_compare(options: Mapping[str, Any], command: str) -> dict[str, Path]:
    """Compare ``options["runs"]``; print the Markdown block (with the paired table for runs with class
    families) and write comparison.{md,csv,png} (+ arena.md, arena.png) into ``output``."""
    runs = [str(r) for r in options["runs"]]
    cmp = compare(runs, options.get("baseline"), options.get("classes"), costs=bool(options.get("costs", True)))
    block = report(cmp, command)
    metrics = list(options.get("metrics") or ["mIoU", *family_metrics(cmp)])
    folder = Path(options.get("output") or runs[0])
    paths = write_outputs(cmp, folder, command)
    if len(metrics) > 1 or options.get("metrics"):
        table = stats_table(cmp, metrics)
        block += ("\nPaired over shared seeds (same data order and backbone/head initialisation), Δ = group − "
                  f"{cmp.baseline.label}, 95 % t interval; MDE: smallest Δ detectable at that n and spread (α 0.05, power 0.8); "
                  "the first row of each metric is the noise floor.\n\n" + table + "\n")
        paths["paired"] = write_text(folder / "arena.md", table + "\n")
        figure = distance_figure(cmp, folder / "arena.png", options.get("receptive_field"))
        if figure is not None:
            paths["figure"] = figure
    print(block)
    if options.get("update"):
        update_document(Path(options["update"]), block)
        paths["document"] = Path(options["update"])
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return paths
