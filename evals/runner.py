"""Run (or resume) a task into ``out/logs`` with Inspect's eval set, then write its curves to ``out/curves``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspect_ai import Task


class RunFailed(RuntimeError):
    """A task's log did not end in success (``inspect eval`` itself would exit 0 here)."""


def unfinished(logs: list) -> str:
    """Each log that did not succeed, with its status and the last line of its error."""
    failed = [
        f"{log.location} ({log.status}"
        + (f": {str(log.error.message).strip().splitlines()[-1]}" if log.error else "")
        + ")"
        for log in logs
        if log.status != "success"
    ]
    return "; ".join(failed) or "no log"


def run_and_plot(
    task: Task,
    out: Path,
    model: str,
    model_args: dict[str, Any],
    model_roles: dict[str, str] | None = None,
    display: str | None = None,
    retry_attempts: int | None = None,
    objective: str | None = None,
) -> dict:
    """An interrupted run resumes where it stopped (eval set), so a rerun of the same command finishes it.
    ``objective``: the combined score that picks alphas and ranks (evals.analysis.schema.COMBINED)."""
    from inspect_ai import eval_set

    from evals.curves import write_outputs

    success, logs = eval_set(
        task,
        log_dir=str(out / "logs"),
        model=model,
        model_args=model_args,
        model_roles=model_roles,
        display=display,
        **({} if retry_attempts is None else {"retry_attempts": retry_attempts}),
    )
    if not success:
        raise RunFailed(
            f"{task.name} did not finish: {unfinished(logs)}; run the same command again to resume ({out / 'logs'})"
        )
    from inspect_ai.log import read_eval_log

    from evals.analysis.work import work_counts

    for log in logs:
        print(f"{log.eval.task}: {work_counts(read_eval_log(log.location)).line()}")
    return write_outputs([out / "logs"], out / "curves", objective)
