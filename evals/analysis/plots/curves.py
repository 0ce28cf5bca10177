"""One PNG per (group, scorer): mean vs alpha per method with its 95% band, prompting dashed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evals.analysis.labels import file_slug, group_label, scorer_label, wrap
from evals.analysis.plots.common import Plot, clipped_texts, draw
from evals.analysis.plots.overview import overview
from evals.analysis.schema import GROUP, PROMPTING, SCORERS
from evals.analysis.stats import reference_rows


def plot_curves(summary: pd.DataFrame, out: Path, table: pd.DataFrame | None = None) -> list[Plot]:
    """Per group: one PNG per scorer (mean vs alpha per method, 95% band) and one overview grid of them all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    written = []
    criteria = {} if table is None else table.groupby("task")["criterion"].first().to_dict()
    for keys, group in summary.groupby(GROUP, dropna=False):
        task = keys[0]
        if dict(zip(GROUP, keys))["vector"] == PROMPTING:
            continue  # drawn as the reference line of the steering curves it belongs to
        reference = reference_rows(summary, dict(zip(GROUP, keys)))
        palette = dict(zip(sorted(group["method"].unique()), sns.color_palette()))
        scorers = list(dict.fromkeys(group["scorer"]))
        for scorer in scorers:
            curve = group[group["scorer"] == scorer]
            fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
            draw(ax, curve, palette, legend=True, reference=reference[reference["scorer"] == scorer])
            title = f"{task}: {scorer} vs alpha\n{group_label(keys)}"
            if scorer == "behavior" and criteria.get(task):
                title += f'\ncriterion: "{criteria[task]}"'
            ax.set_title(wrap(title, 95), fontsize=10)
            ax.set_xlabel("alpha (steering strength; multiplies the raw direction)")
            ax.set_ylabel(scorer_label(scorer), fontsize=10)
            if SCORERS.get(scorer, "").endswith("(0-1)"):  # a share is read on its whole scale, never zoomed
                ax.set_ylim(-0.03, 1.03)
            fig.tight_layout()
            path = out / f"{file_slug(keys, scorer)}.png"
            fig.savefig(path)
            points = {
                line.get_label(): list(zip(map(float, line.get_xdata()), map(float, line.get_ydata())))
                for line in ax.get_lines()
                if not line.get_label().startswith("_")
            }
            written.append(Plot(path, scorer, points, clipped_texts(fig)))
            plt.close(fig)
        written.append(overview(group, keys, scorers, palette, out, reference))
    return written
