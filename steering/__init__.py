"""Activation steering for Hugging Face causal LMs; only ``steering.provider`` knows Inspect.

Kept import-light: the Inspect registry entry point imports this package.
"""

from pathlib import Path


def _prompts_dir() -> Path:
    # a checkout reads the top-level prompts/ folder; a wheel ships the same files as steering/prompts
    source = Path(__file__).resolve().parents[1] / "prompts"
    return source if (source / "criteria.json").is_file() else Path(__file__).resolve().parent / "prompts"


PROMPTS_DIR = _prompts_dir()
"""Prompts, judge templates and contrast sets."""


def shipped_file(name_or_path: str, folder: str, suffix: str, what: str) -> Path:
    """``prompts/<folder>/<name><suffix>`` for a bare name, else the path; an error lists the shipped names."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROMPTS_DIR / folder / f"{name_or_path}{suffix}"
    if not path.is_file():
        known = sorted(p.stem for p in (PROMPTS_DIR / folder).glob(f"*{suffix}"))
        raise ValueError(f"{what} {name_or_path!r} not found: use a {suffix[1:].upper()} path or one of {known}")
    return path
