"""The steerability leaderboard: per concept and direction source, the held-out best combined score.

Every source (an SAE row, an SAE-TS vector, a difference of means, a vector file, and prompting)
is judged the same way: its best (method, alpha) cell is picked on half of the prompts by the
combined score, and that cell's score on the other half is reported with a paired-bootstrap 95%
interval. Prompting has one cell, so its pick is trivial, but it is reported on the same half.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evals.curves import (
    COMBINED,
    GROUP,
    PROMPTING,
    REFERENCE,
    VERSUS,
    Plot,
    _clipped_texts,
    _combined_cell,
    _markdown,
    _objective,
    _paired,
    _versus,
    split_prompts,
)


def source_label(keys: dict) -> str:
    vector, feature = keys["vector"], keys["feature"]
    if vector == PROMPTING:
        return "prompting"
    if vector == "sae" and isinstance(feature, str) and ":" in feature:
        return f"SAE features (weighted {feature})"
    if vector == "sae" and pd.notna(feature):
        return f"SAE feature {int(feature)}"
    if vector == "sae_ts" and isinstance(feature, str) and ":" in feature:
        return f"SAE-TS vector (targets {feature})"
    if vector == "sae_ts" and pd.notna(feature):
        return f"SAE-TS vector (feature {int(feature)})"
    if vector == "diff_of_means":
        return "difference of means"
    return f"vector {Path(str(vector)).stem}"


def leaderboard(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (concept, source): the held-out best cell's combined score, its interval and where it is."""
    rows, chosen_rows = [], []
    rng = np.random.default_rng(0)
    for values, part in table.groupby(GROUP, dropna=False):
        keys = dict(zip(GROUP, values))
        name, _ = _objective(part)
        select, report = split_prompts(part["prompt_id"])
        if name not in COMBINED or not report:
            continue
        picks = {}
        for (method, alpha), cell in part[part["prompt_id"].isin(select)].groupby(["method", "alpha"]):
            b, f = _paired(cell, name)
            if len(b) and not np.isnan(b.mean() * f.mean()):
                picks[(method, alpha)] = b.mean() * f.mean()
        if not picks:
            continue
        method, alpha = max(picks, key=lambda cell: (picks[cell], -abs(cell[1])))
        chosen = part[(part["method"] == method) & (part["alpha"] == alpha) & part["prompt_id"].isin(report)]
        stats = _combined_cell(*_paired(chosen, name), rng)
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
    versus = []
    for i, row in board.iterrows():
        same = (board[REFERENCE[1:]] == row[REFERENCE[1:]]).all(axis=1) & (board["task"] == row["task"])
        asked = board.index[same & (board["source"] == "prompting")]
        if row["source"] == "prompting" or not len(asked):
            versus.append(dict.fromkeys(VERSUS[1:], np.nan))
            continue
        result = _versus(chosen_rows[i], chosen_rows[asked[0]], row["objective"], rng)
        versus.append({key: result[key] for key in VERSUS[1:]})
    board = pd.concat([board, pd.DataFrame(versus, index=board.index)], axis=1)
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
        _markdown(
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


def plot_leaderboard(board: pd.DataFrame, out: Path) -> Plot | None:
    """One picture: concepts along x, one bar per source with its 95% interval."""
    if board.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    # a bar per source, and per run setting where the board holds several (models, layers, settings, tasks)
    varying = [key for key in ("task", "model", "layer", "positions", "settings") if board[key].nunique() > 1]
    board = board.assign(
        bar=[", ".join([str(row["source"]), *(str(row[key]) for key in varying)]) for _, row in board.iterrows()]
    )
    concepts = list(dict.fromkeys(board["concept"]))
    sources = list(dict.fromkeys(board["bar"]))
    palette = dict(zip(sources, sns.color_palette(n_colors=len(sources))))
    width = 0.8 / len(sources)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.8 * len(concepts) + 4), 4.5), dpi=100, layout="constrained")
    for i, source in enumerate(sources):
        rows = board[board["bar"] == source].drop_duplicates("concept").set_index("concept").reindex(concepts)
        x = np.arange(len(concepts)) + (i - (len(sources) - 1) / 2) * width
        below = (rows["score"] - rows["ci95_low"]).clip(lower=0).fillna(0)
        above = (rows["ci95_high"] - rows["score"]).clip(lower=0).fillna(0)
        ax.bar(x, rows["score"], width, color=palette[source], label=source, yerr=[below, above], capsize=3)
    ax.set_xticks(np.arange(len(concepts)), concepts)
    ax.set_ylabel("held-out best combined score (0-1)")
    ax.set_title(f"Steering vs prompting, per concept ({board['objective'].iloc[0]}; bars: 95% interval)", fontsize=10)
    fig.legend(fontsize=8, loc="outside right center")
    path = out / "leaderboard.png"
    fig.savefig(path)
    clipped = _clipped_texts(fig)
    plt.close(fig)
    return Plot(path, "leaderboard", {}, clipped)
