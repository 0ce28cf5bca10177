"""Contrast sets: positive and negative sentences (prompts/contrast/<name>.json) for a difference of means."""

from __future__ import annotations

import json

from steering import shipped_file


def load_contrast(name_or_path: str) -> tuple[list[str], list[str]]:
    """A contrast set: ``prompts/contrast/<name>.json`` or a path, with "positive" and "negative" lists."""
    data = json.loads(shipped_file(name_or_path, "contrast", ".json", "contrast set").read_text())
    return list(data["positive"]), list(data["negative"])
