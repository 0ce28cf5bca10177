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


def interval_text(value: float, low: float, high: float, note: str = "", signed: bool = False) -> str:
    """``0.52 [0.40, 0.63]``; without an interval, the value and why (``0.52 (1 prompt: no interval ...)``)."""
    number = "{:+.2f}" if signed else "{:.2f}"
    if pd.isna(value):
        return f"- ({note})" if note else "-"
    if pd.isna(low):
        return f"{number.format(value)} ({note or 'no interval'})"
    return f"{number.format(value)} [{number.format(low)}, {number.format(high)}]"


def listing(items: list[str], limit: int = 50) -> str:
    if not items:
        return "none"
    more = [f"- ... and {len(items) - limit} more"] if len(items) > limit else []
    return "\n".join([*(f"- {item}" for item in items[:limit]), *more])


def _pick_line(r: object) -> str:
    """One method's best alpha in the terminal view: in sample, held out with its interval, against prompting."""
    if pd.isna(r.alpha_heldout) and pd.isna(r.alpha_insample):
        return f"  {r.method}: {r.note or 'cannot be ranked'}"
    line = f"  {r.method}: alpha {r.alpha_insample:g} ({r.objective} {r.score_insample:.2f}); held out: "
    if pd.isna(r.alpha_heldout):
        return line + (r.note or "no pick")
    line += f"alpha {r.alpha_heldout:g} -> {interval_text(r.score_heldout, r.heldout_low, r.heldout_high, r.note)}"
    if not pd.isna(r.vs_prompting):
        versus = interval_text(r.vs_prompting, r.vs_prompting_low, r.vs_prompting_high, r.versus_note, signed=True)
        line += f"; vs prompting {r.prompting_heldout:.2f}: {versus}"
    return line


def _missing_line(group: pd.DataFrame) -> list[str]:
    combined = group[group["scorer"].isin(["combined", "combined_offline"])]
    if combined.empty:
        return []
    first = combined[combined["scorer"] == combined["scorer"].iloc[0]]
    unscored, failures = int(first["n_unscored"].sum()), int(first["n_failed"].sum())
    if not unscored and not failures:
        return []
    return [
        f"missing: {unscored} unscored and {failures} failed row(s), counted as 0 in {first['scorer'].iloc[0]} "
        "(summary.csv's mean_scored leaves them out)"
    ]


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
        picks = [_pick_line(r) for r in chosen.itertuples()]
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
                    *_missing_line(group),
                    "best alpha:",
                    *picks,
                ]
            )
        )
    return "\n\n".join(blocks)
