"""Inspect AI's entry point (pyproject ``[project.entry-points.inspect_ai]``): the provider registers itself."""

from steering.provider.registry import steered

__all__ = ["steered"]
