"""The capability tax read back: a task's headline metric against alpha, from one log per setting.

Each log of ``evals.capability`` is one setting, named by its model-level steering arguments: no alpha
is the unsteered model (drawn at alpha 0 under every method), an ``instruction`` is the prompting
reference. The headline metric is the task's first scorer, per sample as a number (C/I as 1/0), so
accuracy and any mean score read the same way; intervals are bootstraps over the task's questions, each
question's epochs drawn together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from inspect_ai.log import list_eval_logs, read_eval_log
from inspect_ai.scorer import value_to_float

from evals.analysis.schema import PROMPTING, CurvesError
from evals.analysis.stats import mean_estimate, ratio_estimate

UNSTEERED = "unsteered"
KEYS = ["task", "model", "metric", "method", "alpha"]


def capability_samples(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per sample and setting: task, model, metric, method, alpha, sample id, value."""
    to_float = value_to_float()
    rows = []
    for path in paths:
        if not Path(path).exists():
            raise CurvesError(f"capability log folder {path} does not exist")
        for info in list_eval_logs(str(path)):
            log = read_eval_log(info)
            if log.status != "success" or not log.samples:
                continue
            args = log.eval.model_args or {}
            method = PROMPTING if args.get("instruction") else args.get("method", "add")
            steered = args.get("alpha") not in (None, 0, 0.0)
            for sample in log.samples:
                if not sample.scores or sample.error is not None:
                    continue
                metric, score = next(iter(sample.scores.items()))
                rows.append(
                    {
                        "task": log.eval.task,
                        "model": log.eval.model,
                        "metric": metric,
                        "method": method if steered or method == PROMPTING else UNSTEERED,
                        "alpha": float(args["alpha"]) if steered else 0.0,
                        "sample_id": str(sample.id),
                        "epoch": sample.epoch,
                        "value": to_float(score.value),
                    }
                )
    if not rows:
        raise CurvesError(f"no successful capability logs in {', '.join(map(str, paths))}")
    return pd.DataFrame(rows)


def capability_summary(samples: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% bootstrap interval per setting; the unsteered setting is every steering method's alpha 0."""
    rows = []
    for keys, cell in samples.groupby(KEYS, dropna=False):
        estimate = mean_estimate(cell["value"].to_numpy(float), cell["sample_id"].to_numpy(object))
        rows.append({**dict(zip(KEYS, keys)), "n": len(cell), "n_questions": estimate.n_prompts,
                     "mean": estimate.value, "ci95_low": estimate.low, "ci95_high": estimate.high,
                     "note": estimate.note})  # fmt: skip
    summary = pd.DataFrame(rows)
    steering = sorted(set(summary["method"]) - {UNSTEERED, PROMPTING})
    base = summary[summary["method"] == UNSTEERED]
    copies = [base.assign(method=method) for method in steering]
    return pd.concat([summary, *copies], ignore_index=True).sort_values(KEYS).reset_index(drop=True)


def retained(samples: pd.DataFrame, method: str, alpha: float) -> dict[str, float]:
    """Steered accuracy / unsteered accuracy at (method, alpha), with a paired bootstrap over questions."""
    base = samples[samples["method"] == UNSTEERED].set_index(["sample_id", "epoch"])["value"]
    if method == PROMPTING:
        cell = samples[samples["method"] == PROMPTING]
    elif alpha == 0:
        cell = samples[samples["method"] == UNSTEERED]
    else:
        cell = samples[(samples["method"] == method) & (samples["alpha"] == alpha)]
    both = pd.concat([cell.set_index(["sample_id", "epoch"])["value"], base], axis=1, join="inner")
    values = both.to_numpy(float).reshape(-1, 2)
    result = ratio_estimate(values[:, 0], values[:, 1], both.index.get_level_values("sample_id").to_numpy(object))
    return {"retained": result.value, "ci95_low": result.low, "ci95_high": result.high, "n": len(values),
            "note": result.note}  # fmt: skip


def with_capability(board: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard plus the capability retained at each row's chosen (method, alpha), same model only."""
    board = board.copy()
    columns = {"capability_retained": [], "capability_ci95_low": [], "capability_ci95_high": []}
    for _, row in board.iterrows():
        mine = samples[samples["model"] == row["model"]]
        method = PROMPTING if row["source"] == PROMPTING else row["method"]
        result = retained(mine, method, row["alpha"]) if len(mine) else {}
        columns["capability_retained"].append(result.get("retained", np.nan))
        columns["capability_ci95_low"].append(result.get("ci95_low", np.nan))
        columns["capability_ci95_high"].append(result.get("ci95_high", np.nan))
    return board.assign(**columns)


def write_capability(
    paths: Sequence[str | Path],
    out: str | Path,
    sweep: Sequence[str | Path] | None = None,
    sweep_summary: pd.DataFrame | None = None,
) -> dict[str, object]:
    """capability.csv, capability.md and the accuracy-vs-alpha plot, beside a steering sweep's curves when one
    is given (its log folders, or its summary as ``evals.analysis.stats.summarize`` makes it)."""
    from evals.analysis.plots.capability import plot_capability
    from evals.analysis.reports import markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    samples = capability_samples(paths)
    summary = capability_summary(samples)
    summary.to_csv(out / "capability.csv", index=False)
    if sweep:
        from evals.analysis.stats import summarize
        from evals.analysis.table import load_table

        sweep_summary = summarize(load_table(sweep, {}))
    summary_md = markdown(summary.drop(columns=["model"]))
    (out / "capability.md").write_text("# Capability vs alpha\n\n" + summary_md + "\n")
    plot = plot_capability(summary, out, sweep_summary)
    return {"samples": samples, "summary": summary, "summary_md": summary_md, "plot": plot}
