"""How far each LLM judge agrees with its deterministic check, and the samples to open where they disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evals.analysis.reports import markdown
from evals.analysis.schema import AGREEMENT_WARNING, AUDIT, GROUP


def _spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rho: Pearson's r of average ranks (NaN when either side is constant)."""
    rx, ry = x.rank(), y.rank()
    if rx.std() == 0 or ry.std() == 0:
        return np.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def judge_audit(table: pd.DataFrame, n_disagreeing: int = 5) -> pd.DataFrame:
    """Rank agreement of each judge with its deterministic check, per group, and the samples they most disagree on."""
    rows = []
    for judge, check in AUDIT:
        if not {judge, check} <= set(table.columns):
            continue
        for keys, part in table.groupby(GROUP, dropna=False):
            both = part.dropna(subset=[judge, check])
            rho = _spearman(both[judge], both[check]) if len(both) > 2 else np.nan
            # disagreement: the gap between the two percentile ranks
            gap = (both[judge].rank(pct=True) - both[check].rank(pct=True)).abs()
            worst = both.assign(gap=gap).nlargest(n_disagreeing, "gap")
            ids = ", ".join(f"{r.sample_id} ({r[judge]:g} vs {r[check]:.2f})" for _, r in worst.iterrows())
            rows.append(
                {
                    **dict(zip(GROUP, keys)),
                    "judge": judge,
                    "check": check,
                    "n": len(both),
                    "spearman": rho,
                    "most_disagreeing": ids or "-",
                }
            )
    return pd.DataFrame(rows)


def audit_section(audit: pd.DataFrame) -> str:
    if audit.empty:
        return "No judge ran beside its deterministic check (behavior/french_share, fluency/fluency_offline)."
    lines = [markdown(audit)]
    for row in audit.itertuples():
        if not row.spearman >= AGREEMENT_WARNING:
            lines.append(
                f"**Warning:** {row.judge} and {row.check} agree poorly (Spearman {row.spearman:.2f}, n={row.n}) "
                f"in {row.task}/{row.vector}{'' if row.settings == '-' else f' ({row.settings})'}: "
                "open the samples listed above in `inspect view` before trusting either."
            )
    return "\n\n".join(lines)
