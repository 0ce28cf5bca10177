"""Task arguments in every form Inspect's CLI produces.

``-T alphas=2`` arrives as a scalar, ``-T alphas=0,2,4`` as a list of strings and
``-T alphas=[0,2,4]`` as a list of numbers; Python callers pass any of these too.
``-T alphas=`` arrives as None: an empty value is an error, never the default, so
task defaults are spelled out (``"default"``) rather than None.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from steering.methods import METHODS
from steering.provider.errors import input_error
from steering.sources import get_source, source_names


def refuse_unknown(task: Callable[..., Any], unknown: dict[str, Any]) -> None:
    """A ``-T`` argument the task does not take is an error naming the valid ones (Inspect only warns, then
    runs the whole sweep); a task gets the unknown ones through ``**unknown``."""
    if unknown:
        valid = [
            name
            for name, parameter in inspect.signature(task).parameters.items()
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        raise input_error(
            ValueError(f"unknown task argument(s) {sorted(unknown)} for {task.__name__!r}: valid are {valid}")
        )


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


DEFAULT = "default"
"""The value a task argument has when the user did not give it."""


def empty(name: str, example: str) -> ValueError:
    return ValueError(f"{name} is empty: give a value (e.g. -T {name}={example}) or leave the argument out")


def parse_alphas(value: Any, name: str = "alphas", default: list[float] | None = None) -> list[float]:
    if value is None:
        raise empty(name, "0,50,100")
    if isinstance(value, str) and value.strip() == DEFAULT:
        return list(default) if default is not None else default_alphas()
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
    if value is None:
        raise empty("methods", "add,add_renorm")
    methods = [str(m) for m in _as_list(value)]
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown steering method {method!r}: known methods are {sorted(METHODS)}")
    if not methods:
        raise ValueError(f"methods is empty: use some of {sorted(METHODS)}")
    return list(dict.fromkeys(methods))


def parse_vectors(value: Any) -> list[str]:
    """Direction sources to sweep side by side: registered source names or vector file paths."""
    vectors = [] if value is None else [str(v) for v in _as_list(value)]
    if not vectors:
        raise ValueError(f"vector is empty: use one of {source_names()} (or a .safetensors/.npy path)")
    for vector in vectors:
        get_source(vector).check(vector)
    return list(dict.fromkeys(vectors))


def parse_float(value: Any, name: str, minimum: float, maximum: float, example: str) -> float:
    if value is None:
        raise empty(name, example)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number from {minimum:g} to {maximum:g}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or not minimum <= number <= maximum:
        raise ValueError(f"{name} must be a number from {minimum:g} to {maximum:g}, got {value!r}")
    return number


def parse_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def parse_int(value: Any, name: str, minimum: int = 0) -> int:
    if value is None:
        raise empty(name, str(max(minimum, 1)))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, bool) or number != float(value) or number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number
