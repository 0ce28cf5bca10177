"""Run (or resume) a task into ``out/logs`` with Inspect's eval set, then write its curves to ``out/curves``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspect_ai import Task


def run_and_plot(
    task: Task,
    out: Path,
    model: str,
    model_args: dict[str, Any],
    model_roles: dict[str, str] | None = None,
    display: str | None = None,
) -> dict:
    """An interrupted run resumes where it stopped (eval set), so a rerun of the same command finishes it."""
    from inspect_ai import eval_set

    from evals.curves import write_outputs

    success, _ = eval_set(
        task,
        log_dir=str(out / "logs"),
        model=model,
        model_args=model_args,
        model_roles=model_roles,
        display=display,
    )
    if not success:
        raise RuntimeError(f"{task.name} did not finish; run the same command again to resume ({out / 'logs'})")
    return write_outputs([out / "logs"], out / "curves")
