"""The steerability leaderboard: per concept and direction source, the held-out best combined score.

Every source (an SAE row, an SAE-TS vector, a difference of means, a vector file, and prompting)
is judged the same way: its best (method, alpha) cell is picked on half of the prompts by the
combined score (``stats.best_cell``), and that cell's score on the other half is reported with a
paired-bootstrap 95% interval. Prompting has one cell, so its pick is trivial, but it is reported on
the same half.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evals.analysis.labels import source_label
from evals.analysis.reports import markdown
from evals.analysis.schema import COMBINED, GROUP, PROMPTING, REFERENCE
from evals.analysis.stats import (
    VERSUS,
    best_cell,
    combined_cell,
    objective,
    paired,
    product_of_means,
    split_prompts,
    versus,
)


def leaderboard(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (concept, source): the held-out best cell's combined score, its interval and where it is."""
    rows, chosen_rows = [], []
    rng = np.random.default_rng(0)
    for values, part in table.groupby(GROUP, dropna=False):
        keys = dict(zip(GROUP, values))
        name, _ = objective(part)
        select, report = split_prompts(part["prompt_id"])
        if name not in COMBINED or not report:
            continue
        picks = {
            cell: product_of_means(*paired(rows, name))
            for cell, rows in part[part["prompt_id"].isin(select)].groupby(["method", "alpha"])
        }
        chosen_cell = best_cell(picks, alpha_of=lambda cell: cell[1])
        if chosen_cell is None:
            continue
        method, alpha = chosen_cell
        chosen = part[(part["method"] == method) & (part["alpha"] == alpha) & part["prompt_id"].isin(report)]
        stats = combined_cell(*paired(chosen, name), rng)
        chosen_rows.append(chosen)
        rows.append(
            {
                **{key: keys[key] for key in REFERENCE},
                # a single-criterion sweep has no concept name: its task names it
                "concept": keys["task"] if keys["concept"] == "-" else keys["concept"],
                "source": source_label(keys),
                "method": "-" if method == PROMPTING else method,
                "alpha": np.nan if method == PROMPTING else alpha,
                "score": stats["mean"],
                "ci95_low": stats["ci95_low"],
                "ci95_high": stats["ci95_high"],
                "n": stats["n"],
                "objective": name,
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
            comparisons.append(dict.fromkeys(VERSUS[1:], np.nan))
            continue
        result = versus(chosen_rows[i], chosen_rows[asked[0]], row["objective"], rng)
        comparisons.append({key: result[key] for key in VERSUS[1:]})
    board = pd.concat([board, pd.DataFrame(comparisons, index=board.index)], axis=1)
    return board.sort_values(["task", "concept", "score"], ascending=[True, True, False]).reset_index(drop=True)


def leaderboard_markdown(board: pd.DataFrame) -> str:
    if board.empty:
        return "No leaderboard: no group has both a behaviour and a fluency score on at least two prompts."
    shown = board.assign(
        score=[
            f"{s:.2f} [{lo:.2f}, {hi:.2f}]" for s, lo, hi in zip(board["score"], board["ci95_low"], board["ci95_high"])
        ],
        alpha=["-" if pd.isna(a) else f"{a:g}" for a in board["alpha"]],
        versus=[
            "-" if pd.isna(d) else f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]"
            for d, lo, hi in zip(board["vs_prompting"], board["vs_prompting_low"], board["vs_prompting_high"])
        ],
    )
    varying = [key for key in ("model", "layer", "positions", "settings") if board[key].nunique() > 1]
    columns = ["concept", *varying, "source", "method", "alpha", "score", "versus", "n", "objective"]
    lines = [
        "Held-out best combined score per concept and direction source: (method, alpha) picked on half the prompts, "
        "scored on the other half, with a paired-bootstrap 95% interval; prompting is scored on the same half, "
        "and each steering source's difference from it is bootstrapped over those prompts.",
        "",
        markdown(
            shown[columns].rename(
                columns={
                    "score": "score [95% CI]",
                    "versus": "minus prompting [95% CI]",
                    "n": "n (held-out samples)",
                }
            )
        ),
    ]
    for concept, rows in board.groupby("concept", sort=False):
        steered = rows[rows["source"] != "prompting"]
        asked = rows[rows["source"] == "prompting"]
        if len(steered) and len(asked):
            top, ref = steered.iloc[0], asked.iloc[0]
            verdict = (
                "beats"
                if top["vs_prompting_low"] > 0
                else "loses to"
                if top["vs_prompting_high"] < 0
                else "is not distinguishable from"
            )
            lines.append(
                f"- {concept}: the best steering source ({top['source']}, {top['score']:.2f}) {verdict} prompting "
                f"({ref['score']:.2f}): difference {top['vs_prompting']:+.2f} "
                f"[{top['vs_prompting_low']:+.2f}, {top['vs_prompting_high']:+.2f}], paired over the held-out prompts."
            )
    return "\n".join(lines)
