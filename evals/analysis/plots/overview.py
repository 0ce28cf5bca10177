"""One grid per group: behaviour, fluency, combined and the deterministic checks side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evals.analysis.labels import file_slug, group_label, scorer_label, wrap
from evals.analysis.plots.common import Plot, clipped_texts, draw
from evals.analysis.schema import PROMPTING

OVERVIEW_ORDER = [
    "behavior", "fluency", "combined", "french_share", "language_share", "fluency_offline", "relevance_offline",
    "coherence", "combined_offline", "axbench_offline",
]  # fmt: skip


def overview(
    group: pd.DataFrame, keys: tuple, scorers: list[str], palette: dict, out: Path, reference: pd.DataFrame
) -> Plot:
    """Behaviour, fluency, combined and the deterministic checks in one grid; methods as colours."""
    import matplotlib.pyplot as plt

    panels = [s for s in OVERVIEW_ORDER if s in scorers] + [s for s in scorers if s not in OVERVIEW_ORDER]
    columns = {1: 1, 2: 2, 4: 2}.get(len(panels), 3)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows + 0.9), dpi=100, squeeze=False)
    for ax, scorer in zip(axes.flat, panels):
        draw(ax, group[group["scorer"] == scorer], palette, False, reference[reference["scorer"] == scorer])
        ax.set_title(scorer, fontsize=10)
        ax.set_xlabel("alpha", fontsize=9)
        ax.set_ylabel(scorer_label(scorer, 30), fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=color, marker="o", label=method) for method, color in palette.items()]
    if len(reference):
        handles.append(plt.Line2D([], [], color="0.3", linestyle="--", label=PROMPTING))
    fig.legend(handles=handles, title="method", loc="upper right", fontsize=8, title_fontsize=8)
    fig.suptitle(wrap(f"{keys[0]}: scores vs alpha\n{group_label(keys)}", 40 * columns), fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    path = out / f"{file_slug(keys, 'overview')}.png"
    fig.savefig(path)
    clipped = clipped_texts(fig)
    plt.close(fig)
    return Plot(path, "overview", {}, clipped)
