"""The steerability leaderboard: per concept and direction source, the held-out best combined score.

Every source (an SAE row, an SAE-TS vector, a difference of means, a vector file, and prompting)
is judged the same way: its best (method, alpha) cell is picked on half of the prompts by the
combined score (``stats.held_out_pick``), and that cell's score on the other half is reported with a
bootstrap 95% interval over those prompts (unscored and failed rows count as the worst score). Prompting
has one cell, so its pick is trivial, but it is reported on the same half.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evals.analysis.labels import source_label
from evals.analysis.reports import interval_text, markdown
from evals.analysis.schema import GROUP, PROMPTING, REFERENCE
from evals.analysis.stats import VERSUS, held_out_pick, versus


def leaderboard(table: pd.DataFrame, unranked: list[str] | None = None, prefer: str | None = None) -> pd.DataFrame:
    """One row per (concept, source): the held-out best cell's combined score, its interval and where it is.

    ``unranked`` (if given) collects the groups that cannot be ranked, with the reason; ``prefer`` names the
    combined score to rank by where a group has it (``axbench_offline``).
    """
    rows, chosen_rows = [], []
    for values, part in table.groupby(GROUP, dropna=False):
        keys = dict(zip(GROUP, values))
        pick = held_out_pick(part, ("method", "alpha"), prefer)
        if pick["cell"] is None:
            if unranked is not None:
                unranked.append(f"{keys['task']}: {source_label(keys)} ({keys['model']}): {pick['reason']}")
            continue
        method, alpha = pick["cell"]
        estimate = pick["estimate"]
        chosen_rows.append(pick["rows"])
        rows.append(
            {
                **{key: keys[key] for key in REFERENCE},
                # a single-criterion sweep has no concept name: its task names it
                "concept": keys["task"] if keys["concept"] == "-" else keys["concept"],
                "source": source_label(keys),
                "method": "-" if method == PROMPTING else method,
                "alpha": np.nan if method == PROMPTING else alpha,
                "score": estimate.value,
                "ci95_low": estimate.low,
                "ci95_high": estimate.high,
                "n": len(pick["rows"]),
                "n_prompts": estimate.n_prompts,
                "objective": pick["objective"],
                "note": estimate.note,
            }
        )
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    # each steering source against prompting on the same held-out prompts: a paired bootstrap over prompts
    comparisons = []
    for i, row in board.iterrows():
        same = (board[REFERENCE[1:]] == row[REFERENCE[1:]]).all(axis=1) & (board["task"] == row["task"])
        asked = board.index[same & (board["source"] == "prompting")]
        if row["source"] == "prompting" or not len(asked):
            comparisons.append({**dict.fromkeys(VERSUS[1:], np.nan), "versus_note": ""})
            continue
        result = versus(chosen_rows[i], chosen_rows[asked[0]], row["objective"])
        comparisons.append({key: result[key] for key in [*VERSUS[1:], "versus_note"]})
    board = pd.concat([board, pd.DataFrame(comparisons, index=board.index)], axis=1)
    return board.sort_values(["task", "concept", "score"], ascending=[True, True, False]).reset_index(drop=True)


def leaderboard_markdown(board: pd.DataFrame) -> str:
    if board.empty:
        return "No leaderboard: no group has both a behaviour and a fluency score on at least two prompts."
    shown = board.assign(
        score=[interval_text(*r) for r in zip(board["score"], board["ci95_low"], board["ci95_high"], board["note"])],
        alpha=["-" if pd.isna(a) else f"{a:g}" for a in board["alpha"]],
        versus=[
            "-" if pd.isna(d) else interval_text(d, lo, hi, note, signed=True)
            for d, lo, hi, note in zip(
                board["vs_prompting"], board["vs_prompting_low"], board["vs_prompting_high"], board["versus_note"]
            )
        ],
    )
    varying = [key for key in ("model", "layer", "positions", "settings") if board[key].nunique() > 1]
    columns = ["concept", *varying, "source", "method", "alpha", "score", "versus", "n", "n_prompts", "objective"]
    lines = [
        "Held-out best combined score per concept and direction source: (method, alpha) picked on half the prompts, "
        "scored on the other half, with a 95% interval from a bootstrap over those prompts (a row left unscored or "
        "failed counts as the worst score); prompting is scored on the same half, and each steering source's "
        "difference from it is bootstrapped over the same prompts, paired.",
        "",
        markdown(
            shown[columns].rename(
                columns={
                    "score": "score [95% CI]",
                    "versus": "minus prompting [95% CI]",
                    "n": "n (held-out samples)",
                    "n_prompts": "prompts",
                }
            )
        ),
    ]
    for concept, rows in board.groupby("concept", sort=False):
        steered = rows[rows["source"] != "prompting"]
        asked = rows[rows["source"] == "prompting"]
        if len(steered) and len(asked):
            top, ref = steered.iloc[0], asked.iloc[0]
            head = f"- {concept}: the best steering source ({top['source']}, {top['score']:.2f})"
            difference = interval_text(
                top["vs_prompting"], top["vs_prompting_low"], top["vs_prompting_high"], top["versus_note"], True
            )
            if pd.isna(top["vs_prompting_low"]):
                lines.append(f"{head} against prompting ({ref['score']:.2f}): difference {difference}.")
                continue
            verdict = (
                "beats"
                if top["vs_prompting_low"] > 0
                else "loses to"
                if top["vs_prompting_high"] < 0
                else "is not distinguishable from"
            )
            lines.append(
                f"{head} {verdict} prompting ({ref['score']:.2f}): difference {difference}, "
                "paired over the held-out prompts."
            )
    return "\n".join(lines)
