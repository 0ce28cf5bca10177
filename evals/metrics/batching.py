"""Concurrent scorers in one event loop share the reference model's forward passes: the first caller waits
``BATCH_WAIT`` for the others, then one thread scores them all."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from typing import Any

BATCH_WAIT = 0.05
"""Seconds a scorer waits for other samples' replies, so concurrent scores share forward passes."""
BATCH_ROWS = 64

Reports = Callable[[Sequence[str], Sequence[Any], str], Sequence[Any]]
"""(texts, prompts, reference) -> one report per text: ``fluency_reports``, ``relevance_reports``."""


class _Batcher:
    """Concurrent callers in one event loop share forward passes: the first waits ``BATCH_WAIT`` for others.

    The batcher creates every future it hands out and is the only code that completes it; a caller that
    is cancelled leaves its future cancelled, and the batcher skips it."""

    def __init__(self, reports: Reports, reference: str) -> None:
        self.reports, self.reference = reports, reference
        self.pending: list[tuple[str, str | None, asyncio.Future[Any]]] = []
        self.draining: asyncio.Task[None] | None = None

    async def score(self, text: str, prompt: str | None) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((text, prompt, future))
        if self.draining is None or self.draining.done():
            self.draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        import anyio

        batch: list[tuple[str, str | None, asyncio.Future[Any]]] = []
        try:
            await asyncio.sleep(BATCH_WAIT)
            while self.pending:
                batch, self.pending = self.pending[:BATCH_ROWS], self.pending[BATCH_ROWS:]
                batch = [item for item in batch if not item[2].done()]
                if not batch:
                    continue
                texts, prompts = [t for t, _, _ in batch], [p for _, p, _ in batch]
                try:
                    reports = await anyio.to_thread.run_sync(self.reports, texts, prompts, self.reference)
                except Exception as error:  # every caller of the batch gets the error, none waits forever
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future), report in zip(batch, reports):
                    if not future.done():
                        future.set_result(report)
                batch = []
        except BaseException:
            for _, _, future in [*batch, *self.pending]:
                future.cancel()
            self.pending = []
            raise


_BATCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Reports, str], _Batcher]] = (
    weakref.WeakKeyDictionary()
)


async def batched(reports: Reports, text: str, prompt: str | None, reference: str) -> Any:
    """``reports([text], [prompt], reference)[0]``, computed with whatever other callers ask for meanwhile."""
    batchers = _BATCHERS.setdefault(asyncio.get_running_loop(), {})
    batcher = batchers.setdefault((reports, reference), _Batcher(reports, reference))
    return await batcher.score(text, prompt)
