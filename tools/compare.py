"""Compare runs: ``python tools/compare.py RUN_OR_SWEEP_FOLDER... [--baseline identity] [--classes pole fence]``.

Groups the runs found under the folders by the config keys that differ, prints a Markdown table
(mean ± std over seeds, costs, Δ mIoU vs the baseline with a 95 % interval) and writes
comparison.md, comparison.csv and comparison.png into --output (default: the first folder).
``--update docs/results.md`` also puts the table between that file's compare markers.
"""

import argparse
import shlex
import sys
from pathlib import Path

from segfw.analysis.compare import compare, report, update_document, write_outputs
from segfw.errors import USER_ERRORS, one_line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="run folders, or folders holding runs (a multirun folder)")
    parser.add_argument("--baseline", help="label of the group to compare with (default: identity, else the first)")
    parser.add_argument("--classes", nargs="*", help="classes whose IoU the Markdown table shows (default: all)")
    parser.add_argument("--output", help="folder for comparison.{md,csv,png} (default: the first folder)")
    parser.add_argument("--update", help="a Markdown file whose compare block gets the table (e.g. docs/results.md)")
    parser.add_argument("--no-costs", action="store_true", help="skip measuring params and GFLOPs")
    args = parser.parse_args(argv)
    command = "python tools/compare.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        cmp = compare(args.folders, args.baseline, args.classes, costs=not args.no_costs)
    except USER_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    block = report(cmp, command)
    print(block)
    paths = write_outputs(cmp, Path(args.output or args.folders[0]), command)
    if args.update:
        update_document(Path(args.update), block)
        paths["document"] = Path(args.update)
    print("wrote " + ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
