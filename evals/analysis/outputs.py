"""Logs -> every table, report and plot in one folder (what ``python -m evals.curves`` writes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.analysis.audit import audit_section, judge_audit
from evals.analysis.leaderboard import leaderboard, leaderboard_markdown
from evals.analysis.plots.curves import plot_curves
from evals.analysis.plots.leaderboard import plot_leaderboard
from evals.analysis.reports import listing, markdown
from evals.analysis.schema import GROUP
from evals.analysis.stats import best_alphas, check_objective, summarize
from evals.analysis.table import load_table


def write_outputs(paths: Sequence[str | Path], out: str | Path, objective: str | None = None) -> dict[str, object]:
    """Every table, report and plot of the logs under ``paths``; alphas picked by ``objective`` (a COMBINED name)
    where a run has it, else by the first combined score it has."""
    check_objective(objective)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dropped: dict[str, list[str]] = {}
    table = load_table(paths, dropped)
    summary = summarize(table)
    best = best_alphas(table, objective)
    audit = judge_audit(table)
    unranked: list[str] = []
    board = leaderboard(table, unranked, objective)
    board_md = leaderboard_markdown(board)
    board.to_csv(out / "leaderboard.csv", index=False)
    (out / "leaderboard.md").write_text("# Steerability leaderboard\n\n" + board_md + "\n")
    table.drop(columns=["created"]).to_csv(out / "samples.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    best.to_csv(out / "best_alpha.csv", index=False)
    audit.to_csv(out / "judge_audit.csv", index=False)
    missing = summary[(summary["n_unscored"] > 0) | (summary["n_failed"] > 0)]
    report = "\n\n".join(
        [
            "# Steering sweep summary",
            f"{len(table)} samples from {table['log'].nunique()} log(s), {len(dropped['failed_samples'])} of them "
            f"failed (listed below; counted as the worst score in combined scores); "
            f"{len(dropped['skipped_logs'])} unreadable log(s) left out; {len(dropped['duplicates'])} repeated "
            "copies of samples counted once. Every interval is a 95% percentile bootstrap over prompts (a prompt's "
            "epochs and rows are drawn together).",
            "## Best alpha per method (by the combined score; picked on half the prompts, reported on the other half)",
            markdown(best),
            "## Leaderboard (steering vs prompting)",
            board_md,
            "## Runs that cannot be ranked",
            listing(unranked),
            "## Judge audit (Spearman rank correlation of each judge with its deterministic check)",
            audit_section(audit),
            "## Failed samples (errored or stopped by a limit: no scores; the worst score in combined scores)",
            listing(dropped["failed_samples"]),
            "## Unreadable logs (skipped)",
            listing(dropped["skipped_logs"]),
            "## Unscored and failed rows per cell (left out of a scorer's mean, counted as 0 in combined scores; "
            "mean_scored is the combined score without them)",
            markdown(missing[[*GROUP, "method", "alpha", "scorer", "n_unscored", "n_failed", "mean", "mean_scored"]])
            if len(missing)
            else "none",
            "## Mean, bootstrap standard error and 95% interval per alpha (percentile bootstrap over prompts)",
            markdown(summary),
        ]
    )
    (out / "summary.md").write_text(report + "\n")
    plots = plot_curves(summary, out, table)
    board_plot = plot_leaderboard(board, out)
    if board_plot is not None:
        plots.append(board_plot)
    return {
        "leaderboard": board,
        "leaderboard_md": board_md,
        "table": table,
        "summary": summary,
        "best": best,
        "audit": audit,
        "dropped": dropped,
        "unranked": unranked,
        "plots": plots,
        "report": report,
    }
