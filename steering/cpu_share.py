"""Generation first, scoring after, when both would run on this machine's CPU.

On a CPU the steered engine and a reference model that scores replies (the offline fluency and relevance
checks) compete for the same cores; each runs its own thread pool, so together they oversubscribe the
cores and both slow down (the ten-language suite generated at 5-35 tokens/s while scoring, 200 alone).
The provider marks the requests it generates on this CPU; a reference scorer on the CPU waits until none
is in flight, then scores everything that piled up in large batches. Generation always finishes (a run
holds a bounded number of samples), so the scorers are never starved for good; on a GPU, or with a remote
vLLM server, nothing waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

POLL_SECONDS = 0.1

_lock = threading.Lock()
_generating = 0


@contextmanager
def generating_on_cpu(active: bool = True) -> Iterator[None]:
    """Mark one request generating on this machine's CPU for as long as the block runs."""
    global _generating
    if not active:
        yield
        return
    with _lock:
        _generating += 1
    try:
        yield
    finally:
        with _lock:
            _generating -= 1


def cpu_generating() -> int:
    """Requests this process is generating on its CPU now."""
    return _generating


async def after_cpu_generation(on_cpu: bool) -> None:
    """Return once no request generates on this CPU (at once when the caller does not run on the CPU)."""
    while on_cpu and _generating:
        await asyncio.sleep(POLL_SECONDS)
