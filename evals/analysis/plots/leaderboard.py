"""The leaderboard as one picture: concepts along x, a bar per source with its 95% interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evals.analysis.plots.common import Plot, clipped_texts


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
    clipped = clipped_texts(fig)
    plt.close(fig)
    return Plot(path, "leaderboard", {}, clipped)
