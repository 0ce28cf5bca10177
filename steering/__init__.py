"""Activation steering for Hugging Face causal LMs, independent of Inspect.

Kept import-light: the Inspect registry entry point imports this package.
"""

from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
"""Prompts, judge templates and contrast sets: data read from the source tree."""
