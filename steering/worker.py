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
    """Collects jobs for up to ``batch_wait`` seconds (at most ``batch_size``) and runs them by key."""

    def __init__(self, run_batch: BatchRunner, batch_size: int, batch_wait: float, name: str = "steered-generate"):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(batch_wait, bool) or not isinstance(batch_wait, int | float) or not 0 <= batch_wait < 60:
            raise ValueError(f"batch_wait must be a number of seconds in [0, 60), got {batch_wait!r}")
        self._run_batch = run_batch
        self.batch_size, self.batch_wait, self.name = batch_size, float(batch_wait), name
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.stopping = threading.Event()
        self.restarts = 0
        _WORKERS.add(self)

    def submit(self, payload: Any, key: Hashable) -> Future:
        """Queue a request; the returned future is completed by the worker thread, or fails."""
        if self.stopping.is_set():
            raise WorkerStopped("the steered model is shutting down: no new requests are accepted")
        job = Job(payload, key)
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

    def _collect(self) -> list[Job] | None:
        """The next batch of live jobs (cancelled ones dropped); None when told to stop."""
        first = self._queue.get()
        if first is _STOP:
            return None
        jobs = [first]
        while len(jobs) < self.batch_size:
            try:
                job = self._queue.get(timeout=self.batch_wait)
            except queue.Empty:
                break
            if job is _STOP:
                self._queue.put(_STOP)
                break
            jobs.append(job)
        # after this a job can no longer be cancelled, so completing it cannot raise
        return [job for job in jobs if job.future.set_running_or_notify_cancel()]

    def _loop(self) -> None:
        while True:
            jobs = self._collect()
            if jobs is None:
                return
            groups: dict[Hashable, list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for key, group in groups.items():
                try:
                    self._run_batch(key, group, self.stopping)
                except Exception as error:
                    logger.exception("a %s batch of %d request(s) failed", self.name, len(group))
                    for job in group:
                        job.fail(error)
                finally:
                    for job in group:
                        if not job.future.done():
                            job.fail(RuntimeError(f"the {self.name} worker returned no result for this request"))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current batch (which the runner cuts short), fail queued jobs, join the thread."""
        self.stopping.set()
        self._queue.put(_STOP)
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, Job) and job.future.set_running_or_notify_cancel():
                job.fail(WorkerStopped("the steered model shut down before this request ran"))


@atexit.register
def _stop_all() -> None:
    for worker in list(_WORKERS):
        worker.stop()
