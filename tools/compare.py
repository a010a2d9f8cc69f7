"""Compare runs: ``python tools/compare.py runs=[RUN_OR_SWEEP_FOLDER,...] [baseline=identity] [classes=[pole,fence]]``.

Groups the runs found under the folders by the config keys that differ, prints a Markdown table
(mean ± std over seeds, costs, Δ mIoU vs the baseline with a 95 % interval) and writes
comparison.md, comparison.csv and comparison.png into ``output`` (default: the first folder);
``update=docs/results.md`` also puts the table between that file's compare markers. Runs on a dataset
with class families (context_arena) also get the paired statistics (paired Δ over shared seeds, 95 %
interval, minimum detectable effect, noise floor) and arena.png (accuracy vs distance to the evidence).
The old spelling ``tools/compare.py FOLDER... --baseline X --classes a b --output D --update F --no-costs``
still works.
"""

import argparse
import shlex
import sys

from omegaconf import DictConfig, OmegaConf

from segfw.analysis.compare_tool import run_compare
from segfw.cli import hydra_tool, user_errors_as_one_line

DEPRECATED = "note: 'tools/compare.py FOLDER... --option' is the old spelling; use tools/compare.py runs=[FOLDER,...] option=value"


@hydra_tool("compare")
def main(cfg: DictConfig) -> None:
    run_compare(OmegaConf.to_container(cfg, resolve=True), "python tools/compare.py " + " ".join(map(shlex.quote, sys.argv[1:])))


@user_errors_as_one_line
def old_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--baseline")
    parser.add_argument("--classes", nargs="*")
    parser.add_argument("--output")
    parser.add_argument("--update")
    parser.add_argument("--no-costs", action="store_true")
    args = parser.parse_args(argv)
    print(DEPRECATED)
    options = {"runs": args.folders, "baseline": args.baseline, "classes": args.classes, "output": args.output,
               "update": args.update, "costs": not args.no_costs, "metrics": None, "receptive_field": None}
    run_compare(options, "python tools/compare.py " + " ".join(map(shlex.quote, argv)))


def old_spelling(argv: list[str]) -> bool:
    """Positional folders or --options (not key=value overrides, not Hydra's own --multirun / --help)."""
    return any(("=" not in a and not a.startswith("-")) or a.startswith("--") and a.split("=")[0] in
               ("--baseline", "--classes", "--output", "--update", "--no-costs") for a in argv)


if __name__ == "__main__":
    if old_spelling(sys.argv[1:]):
        old_main(sys.argv[1:])
    else:
        main()
