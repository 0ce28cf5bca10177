"""How much work a run did: steered generations and grader requests, each split into new, shared and cached.

Read from the log's model events, so it is the run's own record: a steered call whose response says
``shared`` joined an identical generation (steering.provider.sharing), a judge score whose metadata
says ``shared`` waited for an identical grader request (evals.scorers), and a cache read cost nothing.
Samples a resumed or retried run copied from the interrupted log are counted apart, never as this run's work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from inspect_ai.log import EvalLog


@dataclass(frozen=True)
class WorkCounts:
    generations: int
    """Steered replies actually generated."""
    generations_shared: int
    generations_cached: int
    grader_requests: int
    """Requests actually sent to a grader."""
    grader_shared: int
    grader_cached: int
    failed_attempts: int = 0
    """Calls that ended in an error and were retried or failed their sample (a timeout, a 429, a 500)."""
    reused_samples: int = 0
    """Samples finished by an earlier, interrupted run and copied into this log (resume, retry): their calls are
    that run's work, not this one's, and are not counted above."""

    def line(self) -> str:
        reused = f"; {self.reused_samples} samples reused from an earlier run" if self.reused_samples else ""
        return (
            f"steered generations {self.generations} (+{self.generations_shared} shared, "
            f"{self.generations_cached} from cache); grader requests {self.grader_requests} "
            f"(+{self.grader_shared} shared, {self.grader_cached} from cache); "
            f"{self.failed_attempts} failed attempts{reused}"
        )


def _reused(sample: object, started: datetime | None) -> bool:
    """Finished before this run started: Inspect copied it from the interrupted log (it keeps its own times).
    Inspect stamps a run's start in whole seconds, so a sample begun in the very second the resuming run started
    counts as that run's work (only a retry within a second of a sub-second run meets this)."""
    begun = getattr(sample, "started_at", None)
    if started is None or not begun:
        return False
    return datetime.fromisoformat(str(begun)) < started


def work_counts(log: EvalLog) -> WorkCounts:
    """Count a log's model calls; the log must hold its samples (read_eval_log without header_only)."""
    steered, grader = Counter(), Counter()
    failed = reused = 0
    started = datetime.fromisoformat(str(log.stats.started_at)) if log.stats and log.stats.started_at else None
    for sample in log.samples or []:
        if _reused(sample, started):
            reused += 1
            continue
        for event in sample.events:
            if event.event != "model":
                continue
            counts = steered if event.model.startswith("steered/") else grader
            response = event.call.response if event.call is not None else None
            if event.error is not None:
                failed += 1
            elif event.cache == "read":
                counts["cached"] += 1
            elif isinstance(response, dict) and response.get("shared"):
                counts["shared"] += 1
            else:
                counts["new"] += 1
        for score in (sample.scores or {}).values():
            metadata = score.metadata or {}
            # one judge call per scorer, or (judges()) one per key, each with its own metadata
            calls = [m for m in metadata.values() if isinstance(m, dict)] or [metadata]
            grader["shared"] += sum(bool(call.get("shared")) for call in calls)
    return WorkCounts(
        generations=steered["new"],
        generations_shared=steered["shared"],
        generations_cached=steered["cached"],
        grader_requests=grader["new"],
        grader_shared=grader["shared"],
        grader_cached=grader["cached"],
        failed_attempts=failed,
        reused_samples=reused,
    )
