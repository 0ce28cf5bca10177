"""``python -m evals.curves LOGS... --out DIR`` (also ``steering-curves``): score-versus-alpha curves from logs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from evals.analysis.outputs import write_outputs
from evals.analysis.reports import compact
from evals.analysis.schema import COMBINED, CurvesError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steering-curves", description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="Inspect log files or directories (.eval, .json)")
    parser.add_argument("--out", required=True, help="directory for CSVs, summary.md and PNGs")
    parser.add_argument(
        "--objective", default=None, choices=list(COMBINED),
        help="the combined score that picks alphas and ranks the leaderboard where a run has it "
        "(default: the judges' when a run has them, else the offline one)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        result = write_outputs(args.logs, args.out, args.objective)
    except CurvesError as error:
        print(f"steering-curves: {error}", file=sys.stderr)
        return 2
    for item in result["dropped"]["skipped_logs"]:
        print(f"steering-curves: warning: skipped unreadable log {item}", file=sys.stderr)
    if result["dropped"]["failed_samples"]:
        print(
            f"steering-curves: warning: {len(result['dropped']['failed_samples'])} failed sample(s) left out "
            "(listed in summary.md)",
            file=sys.stderr,
        )
    for item in result["unranked"]:
        print(f"steering-curves: warning: not ranked: {item}", file=sys.stderr)
    print(compact(result["summary"], result["best"]))
    print(f"\nwrote {len(result['plots'])} plots, summary.md (every figure) and the tables to {args.out}")
    return 0
