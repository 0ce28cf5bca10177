"""One piece of work per distinct request: identical requests join the one queued, running or just finished.

Inspect's cache cannot help with requests in flight together, and it keys on the whole config, so the
same prompt at alpha 0 under two methods or two directions (a suite's concepts: each the unsteered reply),
the same spec twice, or a retry after ``--attempt-timeout`` cancelled the first attempt would each generate
again. A request is shared only when its reply is a function of the request (greedy, or sampled with a
seed); unseeded sampling is never shared.

The same helper shares the judges' grader calls and the grader preflight (``coroutine_submit``), so all
three follow one set of rules: the work belongs to no caller, cancelling the caller that started it leaves
the others waiting, cancelling every caller skips or stops it, and a retry of a cancelled caller takes the
result its attempt started.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from steering.generation import GenerationParams
from steering.methods import identity_at_zero
from steering.spec import SteeringSpec

RECENT_RESULTS, RECENT_SECONDS = 4096, 600.0
"""Results kept for retries: a caller was cancelled (``--attempt-timeout``) mid-generation, so its retry will
ask again, even when another caller of the same generation received it. Results whose callers all received
them are not kept: a later run in the same process (cache off) generates afresh."""


def share_key(
    messages: list[dict[str, str]], spec: SteeringSpec | None, params: GenerationParams, seed: int | None
) -> str | None:
    """What makes two requests give the same reply; None when they need not (unseeded sampling)."""
    if not params.greedy and seed is None:
        return None
    if spec is not None and spec.alpha == 0 and identity_at_zero(spec.method):
        spec = None  # every such method leaves h exactly as it was, whatever the direction: the unsteered reply
    text = json.dumps(
        [
            messages,
            spec.to_dict() if spec else None,
            [params.max_new_tokens, params.temperature, params.top_p, params.top_k, list(params.stop_seqs)],
            seed,
        ],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Entry:
    future: Future
    waiters: int = 0
    abandoned: int = 0
    """Callers cancelled while it ran: each one's retry will ask for it again."""
    finished: float = 0.0
    delivered: int = 0
    """Callers that received the result: the first is its generation, the rest shared it."""

    def deliver(self) -> bool:
        """True when this caller shares a result another caller already received."""
        self.delivered += 1
        return self.delivered > 1


def coroutine_submit(make: Callable[[], Awaitable[Any]]) -> Callable[[], Future]:
    """A ``submit`` for ``RequestSharing`` that runs a coroutine as its own task on the running loop.

    The task belongs to no caller, so the caller that started it can be cancelled while others wait on it;
    it is cancelled only when the shared future is (every caller gave up).
    """

    def submit() -> Future:
        shared: Future = Future()
        task = asyncio.ensure_future(make())

        def done(finished: asyncio.Future) -> None:
            if shared.done():  # cancelled: every caller gave up
                if not finished.cancelled():
                    finished.exception()  # retrieved, never warned
                return
            if finished.cancelled():
                shared.cancel()
            elif finished.exception() is not None:
                shared.set_exception(finished.exception())
            else:
                shared.set_result(finished.result())

        task.add_done_callback(done)
        loop = task.get_loop()
        shared.add_done_callback(lambda future: future.cancelled() and loop.call_soon_threadsafe(task.cancel))
        return shared

    return submit


class RequestSharing:
    """Keyed in-flight futures plus a bounded memory of orphaned ones; thread-safe (the worker completes them).

    ``keep_all`` remembers every finished result, failures included, for ``expiry`` seconds (None: for good):
    a check done once for all callers (the grader preflight).
    """

    def __init__(self, recent: int = RECENT_RESULTS, keep_all: bool = False, expiry: float | None = RECENT_SECONDS):
        self._lock = threading.RLock()  # cancel() runs _finished at once, in the thread holding it
        self._running: dict[Hashable, _Entry] = {}
        self._recent: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._size = recent
        self._keep_all = keep_all
        self._expiry = expiry

    async def result(self, key: Hashable | None, submit: Callable[[], Future]) -> tuple[Any, bool]:
        """(result, shared): join an identical request or submit this one; cancelling leaves others waiting.

        ``shared`` is true when another caller already received this generation, so a run counts each
        generation once (a retry that takes what its own cancelled attempt generated is not sharing).
        """
        if key is None:
            return await asyncio.wrap_future(submit()), False
        with self._lock:
            entry = self._recent.get(key)
            if entry is not None and (self._expiry is None or time.monotonic() - entry.finished < self._expiry):
                # the retry of a cancelled attempt (and of every request that had joined it) takes its result
                return entry.future.result(), entry.deliver()
            entry = self._running.get(key)
            if entry is None or entry.future.cancelled():
                entry = self._running[key] = _Entry(submit())
                entry.future.add_done_callback(lambda future: self._finished(key, future))
            entry.waiters += 1
        waiter = asyncio.wrap_future(entry.future)
        waiter.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved, never warned
        try:
            result = await asyncio.shield(waiter)
        except asyncio.CancelledError:
            with self._lock:
                entry.waiters -= 1
                entry.abandoned += 1
                if entry.waiters == 0:
                    # still queued: skipped; already generating: its result is kept for a retry to join
                    entry.future.cancel()
            raise
        with self._lock:
            return result, entry.deliver()

    def _finished(self, key: Hashable, future: Future) -> None:
        with self._lock:
            entry = self._running.get(key)
            if entry is None or entry.future is not future:
                return
            del self._running[key]
            if future.cancelled():
                return
            if not self._keep_all and (future.exception() is not None or not entry.abandoned):
                return
            entry.finished = time.monotonic()
            self._recent[key] = entry
            while len(self._recent) > self._size:
                self._recent.popitem(last=False)
