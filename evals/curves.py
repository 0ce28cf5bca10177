"""Score-versus-alpha curves from Inspect logs: ``python -m evals.curves LOGS... --out DIR``.

The analysis lives in ``evals.analysis`` (table, statistics, audit, reports, plots); this module keeps the
documented command and the names callers import.
"""

from __future__ import annotations

import sys

from evals.analysis.cli import main
from evals.analysis.outputs import write_outputs
from evals.analysis.reports import compact
from evals.analysis.schema import GROUP, PROMPTING, CurvesError
from evals.analysis.table import load_table

__all__ = ["GROUP", "PROMPTING", "CurvesError", "compact", "load_table", "main", "write_outputs"]

if __name__ == "__main__":
    sys.exit(main())
