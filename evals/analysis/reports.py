"""Markdown and terminal views of the tables."""

from __future__ import annotations

import pandas as pd

from evals.analysis.labels import group_label
from evals.analysis.schema import GROUP, PROMPTING
from evals.analysis.stats import reference_rows


def markdown(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def listing(items: list[str], limit: int = 50) -> str:
    if not items:
        return "none"
    more = [f"- ... and {len(items) - limit} more"] if len(items) > limit else []
    return "\n".join([*(f"- {item}" for item in items[:limit]), *more])


def compact(summary: pd.DataFrame, best: pd.DataFrame) -> str:
    """The terminal view: per group, one row per (scorer, method) with its mean at each alpha, then the best alpha."""
    blocks = []
    for keys, group in summary.groupby(GROUP, dropna=False):
        if dict(zip(GROUP, keys))["vector"] == PROMPTING:
            continue  # shown inside the blocks of the steering curves it is the reference of
        reference = reference_rows(summary, dict(zip(GROUP, keys)))
        # the summary is already in scorer order; keep it
        wide = group.pivot_table(index=["scorer", "method"], columns="alpha", values="mean", sort=False)
        wide.columns = [f"{alpha:+g}" for alpha in wide.columns]
        chosen = best
        for key, value in zip(GROUP, keys):
            chosen = chosen[(chosen[key] == value) | (chosen[key].isna() & pd.isna(value))]
        picks = [
            f"  {r.method}: alpha {r.alpha_insample:g} ({r.objective} {r.score_insample:.2f}); held out: "
            f"alpha {r.alpha_heldout:g} -> {r.score_heldout:.2f}"
            + (
                ""
                if pd.isna(r.vs_prompting)
                else f"; vs prompting {r.prompting_heldout:.2f}: {r.vs_prompting:+.2f} "
                f"[{r.vs_prompting_low:+.2f}, {r.vs_prompting_high:+.2f}]"
            )
            for r in chosen.itertuples()
        ]
        asked = [
            f"{r.scorer} {r.mean:.2f}"
            for r in reference.itertuples()
            if r.scorer
            in ("combined", "combined_offline", "behavior", "french_share", "language_share", "fluency_offline")
        ]
        blocks.append(
            "\n".join(
                [
                    f"{keys[0]}: {group_label(keys)}",
                    wide.to_string(float_format=lambda v: f"{v:.2f}"),
                    *([f"prompting reference: {', '.join(asked)}"] if asked else []),
                    "best alpha:",
                    *picks,
                ]
            )
        )
    return "\n\n".join(blocks)
