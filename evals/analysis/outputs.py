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
from evals.analysis.stats import best_alphas, summarize
from evals.analysis.table import load_table


def write_outputs(paths: Sequence[str | Path], out: str | Path) -> dict[str, object]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dropped: dict[str, list[str]] = {}
    table = load_table(paths, dropped)
    summary = summarize(table)
    best = best_alphas(table)
    audit = judge_audit(table)
    board = leaderboard(table)
    board_md = leaderboard_markdown(board)
    board.to_csv(out / "leaderboard.csv", index=False)
    (out / "leaderboard.md").write_text("# Steerability leaderboard\n\n" + board_md + "\n")
    table.drop(columns=["created"]).to_csv(out / "samples.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    best.to_csv(out / "best_alpha.csv", index=False)
    audit.to_csv(out / "judge_audit.csv", index=False)
    unscored = summary[summary["n_unscored"] > 0]
    report = "\n\n".join(
        [
            "# Steering sweep summary",
            f"{len(table)} samples from {table['log'].nunique()} log(s); "
            f"{len(dropped['failed_samples'])} failed sample(s) and {len(dropped['skipped_logs'])} unreadable log(s) "
            f"left out (listed below); {len(dropped['duplicates'])} repeated copies of samples counted once.",
            "## Best alpha per method (by the combined score; picked on half the prompts, reported on the other half)",
            markdown(best),
            "## Leaderboard (steering vs prompting)",
            board_md,
            "## Judge audit (Spearman rank correlation of each judge with its deterministic check)",
            audit_section(audit),
            "## Failed samples (errored or stopped by a limit; excluded, never averaged in)",
            listing(dropped["failed_samples"]),
            "## Unreadable logs (skipped)",
            listing(dropped["skipped_logs"]),
            "## Unscored samples (the grader gave no grade; excluded from means, never counted as zeros)",
            markdown(unscored[[*GROUP, "method", "alpha", "scorer", "n_unscored"]]) if len(unscored) else "none",
            "## Mean, standard error and 95% interval per alpha",
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
        "plots": plots,
        "report": report,
    }
