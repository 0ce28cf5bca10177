"""How a group of samples is named on plots, in file names and on the leaderboard."""

from __future__ import annotations

import re
import textwrap

import pandas as pd

from evals.analysis.schema import PROMPTING, SCORERS
from steering.sources.registry import describe, feature_text, label


def slug(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", "_".join(str(p) for p in parts)).strip("-")


def wrap(text: str, width: int) -> str:

    return "\n".join(line for part in text.split("\n") for line in textwrap.wrap(part, width) or [""])


def scorer_label(scorer: str, width: int = 34) -> str:

    return "\n".join(textwrap.wrap(SCORERS.get(scorer, scorer), width))


def group_label(keys: tuple) -> str:
    """A curve's model, direction source, layer and settings in words (plot titles, terminal view)."""
    task, concept, model, sae, layer, positions, feature, vector, settings = keys
    if vector == PROMPTING:
        source = "prompting reference (unsteered, the behaviour asked for)"
    else:
        source = describe(vector, feature, sae)
    where = f"layer {layer}" + ("" if positions == "all" else f", {positions} positions")
    about = "" if concept == "-" else f"concept {concept}: "
    return f"{about}{model}, {source}, {where}" + ("" if settings == "-" else f"\n{settings}")


def source_label(keys: dict) -> str:
    """A direction source's short name on the leaderboard."""
    return "prompting" if keys["vector"] == PROMPTING else label(keys["vector"], keys["feature"])


def file_slug(keys: tuple, *extra: object) -> str:
    task, concept, model, sae, layer, positions, feature, vector, settings = keys
    parts = [task, concept, model, vector, *([feature_text(feature)] if pd.notna(feature) else []), settings, *extra]
    return slug(*(p for p in parts if p != "-"))
