"""Task arguments in every form Inspect's CLI produces.

``-T alphas=2`` arrives as a scalar, ``-T alphas=0,2,4`` as a list of strings and
``-T alphas=[0,2,4]`` as a list of numbers; Python callers pass any of these too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from steering.methods import METHODS
from steering.spec import VECTOR_SOURCES


def default_alphas() -> list[float]:
    """The seed's grid, np.linspace(-300, 300, 20), plus an explicit 0 baseline."""
    return sorted({*(round(float(a), 6) for a in np.linspace(-300, 300, 20)), 0.0})


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = value.strip().strip("[]")
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for item in value:
            out.extend(_as_list(item) if isinstance(item, str) else [item])
        return out
    return [value]


def parse_alphas(value: Any, name: str = "alphas") -> list[float]:
    if value is None:
        return default_alphas()
    alphas = []
    for item in _as_list(value):
        try:
            alpha = float(item)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {item!r} is not a number (e.g. -T {name}=0,50,100)") from None
        if isinstance(item, bool) or not math.isfinite(alpha):
            raise ValueError(f"{name}: {item!r} is not a finite number")
        alphas.append(alpha)
    if not alphas:
        raise ValueError(f"{name} is empty: give at least one value (e.g. -T {name}=0,50,100)")
    return sorted(set(alphas))


def parse_methods(value: Any) -> list[str]:
    methods = [str(m) for m in _as_list(value)]
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown steering method {method!r}: known methods are {sorted(METHODS)}")
    if not methods:
        raise ValueError(f"methods is empty: use some of {sorted(METHODS)}")
    return list(dict.fromkeys(methods))


def parse_vectors(value: Any) -> list[str]:
    """Direction sources to sweep side by side: "sae", "sae_ts", "diff_of_means" or vector file paths."""
    vectors = [str(v) for v in _as_list(value)]
    if not vectors:
        raise ValueError("vector is empty: use sae, sae_ts, diff_of_means or a .safetensors/.npy path")
    for vector in vectors:
        if vector not in VECTOR_SOURCES and not vector.endswith((".safetensors", ".npy")):
            raise ValueError(
                f"unknown vector {vector!r}: use one of {list(VECTOR_SOURCES)} or a .safetensors/.npy path"
            )
    return list(dict.fromkeys(vectors))


def parse_int(value: Any, name: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, bool) or number != float(value) or number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number
