"""The batching worker on its own: cancellation, errors, restarts and shutdown, with a fake batch runner."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from steering.worker import BatchWorker, Job, WorkerStopped


class Recorder:
    """A batch runner that doubles each payload, after an optional delay, and remembers its batches."""

    def __init__(self, delay: float = 0.0, fail_on: object = None, die_on: object = None):
        self.delay, self.fail_on, self.die_on = delay, fail_on, die_on
        self.batches: list[list[object]] = []

    def __call__(self, key, jobs: list[Job], interrupt: threading.Event) -> None:
        self.batches.append([job.payload for job in jobs])
        time.sleep(self.delay)
        payloads = [job.payload for job in jobs]
        if self.die_on in payloads:
            raise SystemExit("the thread dies")  # not an Exception: the loop cannot catch it
        if self.fail_on in payloads:
            raise RuntimeError(f"bad payload {self.fail_on}")
        for job in jobs:
            job.succeed(job.payload * 2)


def test_requests_are_batched_by_key():
    runner = Recorder()
    worker = BatchWorker(runner, batch_size=4, batch_wait=0.2)
    futures = [worker.submit(i, key=i % 2) for i in range(4)]
    assert [f.result(timeout=5) for f in futures] == [0, 2, 4, 6]
    assert sorted(map(sorted, runner.batches)) == [[0, 2], [1, 3]]


def test_a_cancelled_call_is_skipped_and_the_next_call_completes():
    runner = Recorder(delay=0.3)
    worker = BatchWorker(runner, batch_size=1, batch_wait=0.0)

    async def scenario():
        first = asyncio.ensure_future(asyncio.wrap_future(worker.submit(1, key="k")))
        queued = asyncio.ensure_future(asyncio.wrap_future(worker.submit(2, key="k")))
        await asyncio.sleep(0.1)
        first.cancel()  # cancelled mid-flight: its result arrives after the caller left
        queued.cancel()  # cancelled before it ran: never run
        return await asyncio.wait_for(asyncio.wrap_future(worker.submit(3, key="k")), timeout=5)

    assert asyncio.run(scenario()) == 6
    assert [b for b in runner.batches] == [[1], [3]]
    assert worker._thread.is_alive() and worker.restarts == 0


def test_an_exception_fails_only_its_own_batch():
    worker = BatchWorker(Recorder(fail_on=7), batch_size=8, batch_wait=0.2)
    bad, other = worker.submit(7, key="bad"), worker.submit(1, key="good")
    with pytest.raises(RuntimeError, match="bad payload 7"):
        bad.result(timeout=5)
    assert other.result(timeout=5) == 2
    assert worker.submit(5, key="bad").result(timeout=5) == 10


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_thread_that_dies_is_restarted():
    worker = BatchWorker(Recorder(die_on=9), batch_size=1, batch_wait=0.0)
    with pytest.raises(RuntimeError, match="returned no result"):
        worker.submit(9, key="k").result(timeout=5)
    worker._thread.join(timeout=5)
    assert worker.submit(4, key="k").result(timeout=5) == 8
    assert worker.restarts == 1


def test_a_second_concurrent_user_gets_its_own_results():
    worker = BatchWorker(Recorder(delay=0.01), batch_size=4, batch_wait=0.01)
    results: dict[str, list[int]] = {}

    def user(name: str, values: range) -> None:
        results[name] = [worker.submit(v, key="k").result(timeout=10) for v in values]

    threads = [threading.Thread(target=user, args=(n, range(s, s + 20))) for n, s in (("a", 0), ("b", 100))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": [2 * v for v in range(20)], "b": [2 * v for v in range(100, 120)]}


def test_stop_interrupts_the_runner_fails_queued_requests_and_refuses_new_ones():
    started = threading.Event()

    def runner(key, jobs, interrupt):
        started.set()
        interrupt.wait(timeout=10)  # a long generation that checks the interrupt every token
        for job in jobs:
            job.fail(WorkerStopped("interrupted"))

    worker = BatchWorker(runner, batch_size=1, batch_wait=0.0)
    running, queued = worker.submit(1, key="k"), worker.submit(2, key="k")
    assert started.wait(timeout=5)
    began = time.monotonic()
    worker.stop(timeout=5)
    assert time.monotonic() - began < 2 and not worker._thread.is_alive()
    for future in (running, queued):
        with pytest.raises(WorkerStopped):
            future.result(timeout=1)
    with pytest.raises(WorkerStopped, match="shutting down"):
        worker.submit(3, key="k")


@pytest.mark.parametrize("wait", [-1, "abc", float("nan"), 60, True])
def test_bad_batch_wait_is_rejected(wait):
    from steering.provider.args import ProviderArgs

    with pytest.raises(ValueError, match="batch_wait must be a number of seconds in \\[0, 60\\)"):
        ProviderArgs.parse({"batch_wait": wait})


class Gated(Recorder):
    """A recorder whose batches wait for ``gate``: later jobs pile up in the worker's window meanwhile."""

    def __init__(self, gate: threading.Event):
        super().__init__()
        self.gate = gate

    def __call__(self, key, jobs, interrupt):
        self.gate.wait(5)
        super().__call__(key, jobs, interrupt)


def test_a_batch_is_the_oldest_job_and_the_nearest_in_size_of_its_key():
    """Jobs waiting together are grouped by size (prompt length): less padding, and the oldest always goes."""
    gate = threading.Event()
    runner = Gated(gate)
    worker = BatchWorker(runner, batch_size=3, batch_wait=0.0)
    blocker = worker.submit(0, key="k", size=0)
    time.sleep(0.2)  # the blocker's batch is running; the rest wait in the window
    sizes = [50, 10, 900, 12, 880, 11, 910]
    futures = [worker.submit(s, key="k", size=s) for s in sizes]
    other = worker.submit(-1, key="other", size=10)
    time.sleep(0.1)
    gate.set()
    assert [f.result(timeout=5) for f in futures] == [2 * s for s in sizes]
    assert blocker.result(timeout=5) == 0 and other.result(timeout=5) == -2
    # the oldest (50) with its two nearest (12, 11); then 10 with the rest nearest it; keys never mix
    assert runner.batches == [[0], [50, 12, 11], [10, 880, 900], [910], [-1]]


def test_a_job_waiting_in_the_window_can_still_be_cancelled_and_is_never_run():
    gate = threading.Event()
    runner = Gated(gate)
    worker = BatchWorker(runner, batch_size=2, batch_wait=0.0)
    worker.submit(0, key="k")
    time.sleep(0.2)
    keep, drop = worker.submit(1, key="k"), worker.submit(2, key="k")
    time.sleep(0.1)
    assert drop.cancel(), "a job not yet in a batch is still cancellable"
    gate.set()
    assert keep.result(timeout=5) == 2
    time.sleep(0.1)
    assert [1, 2] not in runner.batches and [2] not in runner.batches and [1] in runner.batches


def test_stopping_fails_the_jobs_still_in_the_window():
    gate = threading.Event()
    worker = BatchWorker(Gated(gate), batch_size=1, batch_wait=0.0)
    running = worker.submit(1, key="k")
    time.sleep(0.2)
    waiting = [worker.submit(i, key="k") for i in (2, 3)]
    time.sleep(0.1)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    time.sleep(0.1)
    gate.set()
    stopper.join(5)
    assert running.result(timeout=5) == 2
    for future in waiting:
        with pytest.raises(WorkerStopped):
            future.result(timeout=5)


def test_a_request_submitted_while_stop_runs_never_waits_forever():
    """A submit preempted between its stopping check and its put, while stop() runs: the request must still be
    refused, run or failed, never left in a queue nobody reads."""
    import queue

    checked, slow = threading.Event(), threading.Event()

    class SlowQueue(queue.Queue):
        def put(self, item, block=True, timeout=None):
            if isinstance(item, Job) and slow.is_set():
                checked.set()
                time.sleep(0.3)  # stop() runs here
            super().put(item, block, timeout)

    worker = BatchWorker(Recorder(), batch_size=4, batch_wait=0.01)
    worker._queue = SlowQueue()
    worker.submit(1, key=0).result(timeout=5)  # the thread is running
    slow.set()
    outcome: list[object] = []

    def submit():
        try:
            outcome.append(worker.submit(2, key=0))
        except WorkerStopped as error:
            outcome.append(error)

    thread = threading.Thread(target=submit)
    thread.start()
    checked.wait(5)
    worker.stop()
    thread.join(5)
    (result,) = outcome
    if not isinstance(result, WorkerStopped):
        try:
            assert result.result(timeout=5) == 4  # ran before the stop; a TimeoutError here is the hang
        except WorkerStopped:
            pass


def test_the_batch_wait_is_bounded_per_batch_not_restarted_by_each_arrival():
    runner = Recorder()
    worker = BatchWorker(runner, batch_size=512, batch_wait=0.3)
    start = time.monotonic()
    first = worker.submit(0, key=0)
    for i in range(1, 25):  # one arrival every 0.1 s for 2.4 s: each would restart a per-arrival wait
        time.sleep(0.1)
        worker.submit(i, key=0)
    first.result(timeout=5)
    first_batch_ran_after = len(runner.batches[0])
    assert first_batch_ran_after <= 6, f"the first batch waited for {first_batch_ran_after} arrivals"
    assert time.monotonic() - start > 2.0
    worker.stop()
