"""Grader preflight: one tiny request to the grader before the first steered generation.

Inspect retries a connection error with back-off for up to 30 minutes and prints nothing at the default
display, while the steered model goes on generating; a 401 surfaces only after generation has started.
One request first makes a dead, unauthorised or misnamed grader fail within seconds, naming the role, the
model and the base URL (never the key).
"""

from __future__ import annotations

import asyncio
import os

from inspect_ai.model import ChatMessageUser, GenerateConfig, Model

from steering.provider.sharing import RequestSharing, coroutine_submit

PREFLIGHT_PROMPT = "Reply with the word OK."
PREFLIGHT_CONFIG = GenerateConfig(max_tokens=8, temperature=0.0, max_retries=1, timeout=45, attempt_timeout=20)

_CHECKED = RequestSharing(keep_all=True, expiry=None)
"""One preflight per grader and event loop; every sample waits on the same request, and a later sample gets
its outcome at once. The request is its own task: cancelling the sample that started it cannot strand the
others (steering.provider.sharing)."""


class GraderUnavailable(RuntimeError):
    """The grader role cannot answer: nothing is generated until it can."""


async def check_grader(grader: Model) -> None:
    """Raise GraderUnavailable unless ``grader`` answers one tiny request (done once, shared by all samples)."""
    key = (grader.name, grader.api.base_url, id(asyncio.get_running_loop()))
    await _CHECKED.result(key, coroutine_submit(lambda: _preflight(grader)))


async def _preflight(grader: Model) -> None:
    try:
        await grader.generate([ChatMessageUser(content=PREFLIGHT_PROMPT)], config=PREFLIGHT_CONFIG)
    except Exception as error:
        if not _rate_limited(error):  # reachable and authorised, just busy: the judges' own retries wait
            raise GraderUnavailable(_describe(grader, error)) from None


def _cause(error: BaseException) -> BaseException:
    """The error that ended the attempts (tenacity wraps it in a RetryError)."""
    last = getattr(error, "last_attempt", None)
    return last.exception() if last is not None and last.exception() is not None else error


def _rate_limited(error: BaseException) -> bool:
    return getattr(_cause(error), "status_code", None) == 429


def _describe(grader: Model, error: BaseException) -> str:
    """Role, model, base URL and the error that ended the attempts (tenacity wraps it); never the key."""
    cause = _cause(error)
    name = str(grader)
    provider = name.split("/")[0]
    base_url = grader.api.base_url or os.environ.get(f"{provider.upper()}_BASE_URL")
    where = f" at {base_url}" if base_url else ""
    text = str(cause).strip()
    message = text.splitlines()[0][:300] if text else ""
    return (
        f"the grader role ({name}{where}) did not answer a preflight request: {type(cause).__name__}: {message} "
        "(nothing was generated; fix the grader, or run with -T preflight=false to skip this check)"
    )
