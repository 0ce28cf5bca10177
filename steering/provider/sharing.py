"""One generation per distinct request: identical requests join the one queued, running or just finished.

Inspect's cache cannot help with requests in flight together, and it keys on the whole config, so the
same prompt at alpha 0 under two methods, the same spec twice, or a retry after ``--attempt-timeout``
cancelled the first attempt would each generate again. A request is shared only when its reply is a
function of the request (greedy, or sampled with a seed); unseeded sampling is never shared.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
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
        spec = replace(spec, method="add", alpha=0.0)  # every such method leaves h exactly as it was
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


class RequestSharing:
    """Keyed in-flight futures plus a bounded memory of orphaned ones; thread-safe (the worker completes them)."""

    def __init__(self, recent: int = RECENT_RESULTS) -> None:
        self._lock = threading.RLock()  # cancel() runs _finished at once, in the thread holding it
        self._running: dict[str, _Entry] = {}
        self._recent: OrderedDict[str, _Entry] = OrderedDict()
        self._size = recent

    async def result(self, key: str | None, submit: Callable[[], Future]) -> tuple[Any, bool]:
        """(result, shared): join an identical request or submit this one; cancelling leaves others waiting.

        ``shared`` is true when another caller already received this generation, so a run counts each
        generation once (a retry that takes what its own cancelled attempt generated is not sharing).
        """
        if key is None:
            return await asyncio.wrap_future(submit()), False
        with self._lock:
            entry = self._recent.get(key)
            if entry is not None and time.monotonic() - entry.finished < RECENT_SECONDS:
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

    def _finished(self, key: str, future: Future) -> None:
        with self._lock:
            entry = self._running.get(key)
            if entry is None or entry.future is not future:
                return
            del self._running[key]
            if future.cancelled() or future.exception() is not None or not entry.abandoned:
                return
            entry.finished = time.monotonic()
            self._recent[key] = entry
            while len(self._recent) > self._size:
                self._recent.popitem(last=False)
