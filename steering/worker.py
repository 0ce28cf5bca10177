"""The batching worker: one thread that collects requests into batches and completes their futures.

It cannot be killed by its callers: a cancelled request is skipped (or its late result
dropped), an exception fails only the requests of the batch that raised, a thread that
has stopped is restarted by the next request, and at interpreter exit every worker
stops its generation at the next token and is joined, so no thread is left inside torch
while Python finalizes.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


class WorkerStopped(RuntimeError):
    """The process is exiting: the request was not (fully) generated."""


@dataclass
class Job:
    """One request: what the batch runner needs, the key of the batches it may join, its future."""

    payload: Any
    key: Hashable
    size: float = 0.0
    """A length hint: jobs of similar size share a batch (less padding)."""
    future: Future = field(default_factory=Future)

    def succeed(self, result: Any) -> None:
        """Deliver a result, unless the caller has gone (cancelled) or it was already completed."""
        try:
            self.future.set_result(result)
        except InvalidStateError:
            pass

    def fail(self, error: BaseException) -> None:
        try:
            self.future.set_exception(error)
        except InvalidStateError:
            pass


BatchRunner = Callable[[Hashable, list[Job], threading.Event], None]
"""Runs one batch of jobs with equal keys and completes each job; the event is set when the process exits."""

_STOP = object()
_WORKERS: weakref.WeakSet[BatchWorker] = weakref.WeakSet()


class BatchWorker:
    """Collects jobs for up to ``batch_wait`` seconds from a batch's first job and runs them in batches of one key.

    Every job waiting when a batch is formed is in its window: the batch is the oldest job
    plus the ``batch_size - 1`` others of its key nearest to it in size, so a sweep's
    repeated prompts (one per alpha and method) share batches and padding stays small.
    Jobs left in the window stay cancellable until they are picked.
    """

    def __init__(self, run_batch: BatchRunner, batch_size: int, batch_wait: float, name: str = "steered-generate"):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(batch_wait, bool) or not isinstance(batch_wait, int | float) or not 0 <= batch_wait < 60:
            raise ValueError(f"batch_wait must be a number of seconds in [0, 60), got {batch_wait!r}")
        self._run_batch = run_batch
        self.batch_size, self.batch_wait, self.name = batch_size, float(batch_wait), name
        self._queue: queue.Queue[Any] = queue.Queue()
        self._window: list[Job] = []
        """Jobs taken off the queue but not yet in a batch (worker thread only)."""
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self.stopping = threading.Event()
        self.restarts = 0
        _WORKERS.add(self)

    def submit(self, payload: Any, key: Hashable, size: float = 0.0) -> Future:
        """Queue a request; the returned future is completed by the worker thread, or fails."""
        job = Job(payload, key, size)
        with self._submit_lock:  # a job queued after stop() drained the queue would wait forever
            if self.stopping.is_set():
                raise WorkerStopped("the steered model is shutting down: no new requests are accepted")
            self._queue.put(job)
        self._ensure_running()
        return job.future

    def _ensure_running(self) -> None:
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._thread is not None:
                self.restarts += 1
                logger.error("the %s worker thread had stopped; restarting it (restart %d)", self.name, self.restarts)
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def _take(self, block: bool, timeout: float | None = None) -> bool:
        """Move one queued job into the window; False when the queue is empty or told to stop."""
        try:
            job = self._queue.get(block=block, timeout=timeout)
        except queue.Empty:
            return False
        if job is _STOP:
            self._queue.put(_STOP)  # seen again by the next _collect, after this batch
            return False
        self._window.append(job)
        return True

    def _collect(self) -> tuple[Hashable, list[Job]] | None:
        """The next batch of live jobs with one key; None when told to stop."""
        while True:
            if self.stopping.is_set() or (not self._window and not self._take(block=True)):
                return None
            # one wait per batch, from its first job: arrivals do not restart it
            deadline = time.monotonic() + self.batch_wait
            while len(self._window) < self.batch_size and self._take(
                block=True, timeout=max(0.0, deadline - time.monotonic())
            ):
                pass
            while self._take(block=False):  # everything else already waiting joins the window
                pass
            self._window = [job for job in self._window if not job.future.cancelled()]
            if not self._window:
                continue
            oldest = self._window[0]
            same_key = [job for job in self._window if job.key == oldest.key]
            chosen = sorted(same_key, key=lambda job: abs(job.size - oldest.size))[: self.batch_size]
            picked = {id(job) for job in chosen}
            self._window = [job for job in self._window if id(job) not in picked]
            # after this a job can no longer be cancelled, so completing it cannot raise
            live = [job for job in chosen if job.future.set_running_or_notify_cancel()]
            if live:
                return oldest.key, live

    def _loop(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                self._fail_waiting()
                return
            key, jobs = batch
            try:
                self._run_batch(key, jobs, self.stopping)
            except Exception as error:
                logger.exception("a %s batch of %d request(s) failed", self.name, len(jobs))
                for job in jobs:
                    job.fail(error)
            finally:
                for job in jobs:
                    if not job.future.done():
                        job.fail(RuntimeError(f"the {self.name} worker returned no result for this request"))

    def _fail_waiting(self) -> None:
        window, self._window = self._window, []
        for job in [*window, *self._drain()]:
            if job.future.set_running_or_notify_cancel():
                job.fail(WorkerStopped("the steered model shut down before this request ran"))

    def _drain(self) -> list[Job]:
        jobs = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return jobs
            if isinstance(job, Job):
                jobs.append(job)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current batch (which the runner cuts short), fail queued jobs, join the thread."""
        with self._submit_lock:
            self.stopping.set()
            self._queue.put(_STOP)
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        for job in self._drain():
            if job.future.set_running_or_notify_cancel():
                job.fail(WorkerStopped("the steered model shut down before this request ran"))


@atexit.register
def _stop_all() -> None:
    for worker in list(_WORKERS):
        worker.stop()
