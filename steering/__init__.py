"""Activation steering for Hugging Face causal LMs, independent of Inspect.

Kept import-light: the Inspect registry entry point imports this package.
"""

from pathlib import Path


def _prompts_dir() -> Path:
    # a checkout reads the top-level prompts/ folder; a wheel ships the same files as steering/prompts
    source = Path(__file__).resolve().parents[1] / "prompts"
    return source if (source / "criteria.json").is_file() else Path(__file__).resolve().parent / "prompts"


PROMPTS_DIR = _prompts_dir()
"""Prompts, judge templates and contrast sets."""
