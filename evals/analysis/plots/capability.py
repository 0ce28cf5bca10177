"""What steering buys and what it costs on one alpha axis: behaviour, fluency and a task's accuracy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evals.analysis.labels import wrap
from evals.analysis.plots.common import Plot, clipped_texts, draw
from evals.analysis.schema import PROMPTING

BESIDE = (("french_share", "language_share", "behavior"), ("fluency", "fluency_offline", "coherence"))
"""The sweep's panels beside the capability curve: its behaviour score, then its fluency score (first found)."""


def _sweep_panels(sweep: pd.DataFrame | None, model: str) -> list[tuple[str, pd.DataFrame]]:
    if sweep is None or sweep.empty:
        return []
    same = sweep[sweep["model"] == model]
    sweep = same if len(same) else sweep
    panels = []
    for choices in BESIDE:
        found = next((name for name in choices if name in set(sweep["scorer"])), None)
        if found is not None:
            panels.append((found, sweep[sweep["scorer"] == found]))
    return panels


def plot_capability(summary: pd.DataFrame, out: Path, sweep: pd.DataFrame | None = None) -> Plot:
    """Accuracy against alpha per method, the prompting reference dashed; the sweep's curves to its left."""
    import matplotlib.pyplot as plt

    task, model, metric = summary[["task", "model", "metric"]].iloc[0]
    curves = summary[summary["method"].ne(PROMPTING) & summary["method"].ne("unsteered")]
    methods = sorted(set(curves["method"]))
    palette = dict(zip(methods, plt.get_cmap("tab10").colors))
    panels = [*_sweep_panels(sweep, model), (f"{task}: {metric}", summary)]
    # one alpha axis for all: what steering buys and what it costs read at the same alpha
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.9), dpi=100, squeeze=False, sharex=True)
    points: dict[str, list[tuple[float, float]]] = {}
    for ax, (title, frame) in zip(axes.flat, panels):
        lines = frame[frame["method"].isin(methods)]
        draw(ax, lines, palette, False, frame[frame["method"] == PROMPTING])
        ax.set_title(wrap(title, 40), fontsize=10)
        ax.set_xlabel("alpha", fontsize=9)
        ax.set_ylabel("mean (accuracy)" if frame is summary else "mean", fontsize=8)
        ax.tick_params(labelsize=8)
    for method, line in curves.groupby("method"):
        points[method] = list(zip(line["alpha"], line["mean"]))
    handles = [plt.Line2D([], [], color=palette[m], marker="o", label=m) for m in methods]
    handles.append(plt.Line2D([], [], color="0.3", linestyle="--", label=PROMPTING))
    fig.legend(handles=handles, title="method", loc="upper right", fontsize=8, title_fontsize=8)
    fig.suptitle(wrap(f"what steering buys and what it costs: {model}", 45 * len(panels)), fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    path = out / f"capability_{task}.png"
    fig.savefig(path)
    clipped = clipped_texts(fig)
    plt.close(fig)
    return Plot(path, metric, points, clipped)
