"""Mistakes a user made (a bad argument, a missing folder): one line naming the bad value and what would be valid.

``InputError`` is a ``ValueError`` (callers and tests catch it as one) and an Inspect ``PrerequisiteError``, which
``inspect eval`` prints as its message alone instead of a 200-line traceback. ``STEERING_TRACEBACK=1`` keeps the
traceback (a plain ``ValueError``) for debugging.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from inspect_ai._util.error import PrerequisiteError  # printed without a traceback by Inspect's CLI (private API)

P = ParamSpec("P")
T = TypeVar("T")


class InputError(PrerequisiteError, ValueError):
    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def input_error(error: ValueError) -> ValueError:
    """The same message as an ``InputError``, unless ``STEERING_TRACEBACK`` asks for the original."""
    if os.environ.get("STEERING_TRACEBACK") or isinstance(error, InputError):
        return error
    return InputError(str(error))


def user_errors(function: Callable[P, T]) -> Callable[P, T]:
    """A task or provider factory whose ``ValueError`` is the user's mistake: raised as ``InputError``."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except ValueError as error:
            raise input_error(error) from None

    return wrapper
