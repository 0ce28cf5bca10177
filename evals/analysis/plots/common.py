"""What every plot shares: the record of a written figure, the clipped-text check, one curve with its band."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evals.analysis.schema import PROMPTING


@dataclass
class Plot:
    path: Path
    scorer: str
    points: dict[str, list[tuple[float, float]]]
    """The drawn line of each method, read back from the axes."""
    clipped: list[str]
    """Text that does not lie wholly inside the saved figure (none, or the picture cuts a label off)."""


def clipped_texts(fig: object) -> list[str]:
    """Every drawn, non-empty text whose box leaves the figure.

    Matplotlib keeps tick labels for ticks outside an axis's view limits but never draws them; those are skipped.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for label in ax.get_xticklabels():
            centre = label.get_window_extent(renderer).x0 + label.get_window_extent(renderer).width / 2
            if not box.x0 - 1 <= centre <= box.x1 + 1:
                hidden.add(id(label))
        for label in ax.get_yticklabels():
            centre = label.get_window_extent(renderer).y0 + label.get_window_extent(renderer).height / 2
            if not box.y0 - 1 <= centre <= box.y1 + 1:
                hidden.add(id(label))
    box = fig.bbox
    clipped = []
    for text in fig.findobj(lambda artist: hasattr(artist, "get_text") and hasattr(artist, "get_window_extent")):
        if id(text) in hidden or not text.get_visible() or not text.get_text().strip():
            continue
        extent = text.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.y0 < box.y0 - 1 or extent.x1 > box.x1 + 1 or extent.y1 > box.y1 + 1:
            clipped.append(text.get_text())
    return clipped


def draw(
    ax: object, curve: pd.DataFrame, palette: dict[str, object], legend: bool, reference: pd.DataFrame | None = None
) -> None:
    import seaborn as sns

    for method, line in curve.groupby("method"):
        color = palette[method]
        sns.lineplot(x=line["alpha"], y=line["mean"], label=method, color=color, marker="o", ax=ax, legend=False)
        ax.fill_between(line["alpha"], line["ci95_low"], line["ci95_high"], alpha=0.2, color=color)
    if reference is not None and len(reference) and pd.notna(reference["mean"].iloc[0]):
        cell = reference.iloc[0]
        ax.axhline(cell["mean"], color="0.3", linestyle="--", linewidth=1.2, label=PROMPTING)
        if pd.notna(cell["ci95_low"]):
            ax.axhspan(cell["ci95_low"], cell["ci95_high"], color="0.5", alpha=0.12)
    if legend:
        ax.legend(title="method", fontsize=8, title_fontsize=8)
