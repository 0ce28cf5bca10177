"""Score-versus-alpha curves from Inspect logs: a tidy table, a summary, held-out best alphas, plots.

python -m evals.curves LOGS... --out DIR
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GROUP = ["task", "model", "sae", "layer", "positions", "feature", "vector"]
"""Samples that differ in any of these are never averaged together."""
SCORERS = {
    "behavior": "judge grade for the behaviour (1-10)",
    "fluency": "judge grade for fluency (1-10)",
    "combined": "SAE-TS combined score ((b-1)/9)·((f-1)/9) (0-1)",
    "french_share": "share of letters in French sentences (0-1)",
    "unsteered_logprob": "mean log-prob of reply under unsteered model (nats/token)",
}


def _provider_defaults() -> dict[str, object]:
    """The steered/ provider's defaults, for logs whose model_args omit them."""
    from steering.provider import ProviderArgs

    return ProviderArgs().__dict__


def _sae_name(args: dict, defaults: dict[str, object]) -> str:
    if args.get("sae"):
        return str(args["sae"])
    return f"{args.get('sae_release', defaults['sae_release'])}/{args.get('sae_id', defaults['sae_id'])}"


class CurvesError(ValueError):
    pass


def _log_files(paths: Sequence[str | Path]) -> list[str]:
    files: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if p.suffix in (".eval", ".json") and p.is_file())
        elif path.is_file():
            files.append(str(path))
        else:
            raise CurvesError(f"log path {str(path)!r} does not exist")
    if not files:
        raise CurvesError(f"no .eval or .json logs found in {[str(p) for p in paths]}")
    return files


def _as_dict(value: object) -> dict:
    if isinstance(value, str) and value.strip().startswith("{"):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def load_table(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per (log's latest copy of a) sample: group keys, method, alpha, prompt, epoch, scores."""
    from inspect_ai.analysis import EvalColumn, SampleSummary, samples_df

    columns = [
        *SampleSummary,
        EvalColumn("task", path="eval.task"),
        EvalColumn("model", path="eval.model"),
        # samples_df's own model_args column reads another field
        EvalColumn("model_args", path="eval.model_args"),
        EvalColumn("created", path="eval.created"),
        EvalColumn("criterion", path="eval.metadata.criterion"),
    ]
    files = _log_files(paths)
    df = samples_df(files, columns=columns, quiet=True)
    missing = [f"metadata {key!r}" for key in ("alpha", "method") if f"metadata_{key}" not in df.columns]
    if df.empty or missing:
        raise CurvesError(
            f"the logs {files[:3]}{'...' if len(files) > 3 else ''} have no steering sweep samples: "
            f"missing {missing or ['samples']} (run a task built on evals.sweep)"
        )
    args = df["model_args"].apply(_as_dict)
    defaults = _provider_defaults()
    table = pd.DataFrame(
        {
            "task": df["task"],
            "model": df["model"],
            "feature": df.get("metadata_feature", pd.Series(np.nan, index=df.index)),
            "sae": args.apply(_sae_name, defaults=defaults),
            "layer": args.apply(lambda a: a.get("layer", defaults["layer"])),
            "positions": args.apply(lambda a: a.get("positions", defaults["positions"])),
            "vector": df.get("metadata_vector", pd.Series("sae", index=df.index)).fillna("sae"),
            "method": df["metadata_method"],
            "alpha": df["metadata_alpha"].astype(float),
            "prompt_id": df.get("metadata_prompt_id", df["id"]),
            "epoch": df["epoch"],
            "sample_id": df["id"],
            "criterion": df.get("criterion"),
            "errored": df["error"].fillna("").astype(str).str.len() > 0,
            "created": pd.to_datetime(df["created"]),
            "log": df["log"],
        }
    )
    table.loc[~table["vector"].isin(["sae", "sae_ts"]), "sae"] = "-"  # the SAE plays no part there
    for column in df.columns:
        if column.startswith("score_"):
            table[column.removeprefix("score_")] = pd.to_numeric(df[column], errors="coerce")
    # a resumed or retried run copies finished samples into a new log: keep each sample once, newest log first
    keys = [*GROUP, "sample_id", "epoch"]
    table = table.sort_values(["errored", "created"], ascending=[False, True])
    table = table.drop_duplicates(subset=keys, keep="last")
    table = table[~table["errored"]].drop(columns=["errored"])
    return table.sort_values([*GROUP, "method", "alpha", "prompt_id", "epoch"]).reset_index(drop=True)


def score_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in SCORERS or c not in _NON_SCORE]


_NON_SCORE = {*GROUP, "method", "alpha", "prompt_id", "epoch", "sample_id", "criterion", "created", "log"}


def _t95(n: pd.Series) -> pd.Series:
    from scipy.stats import t

    return n.apply(lambda k: t.ppf(0.975, k - 1) if k > 1 else np.nan)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard error, 95% t-interval, scored and unscored counts per group, method, alpha, scorer."""
    scores = score_columns(table)
    long = table.melt(id_vars=[*GROUP, "method", "alpha"], value_vars=scores, var_name="scorer")
    keys = [*GROUP, "method", "alpha", "scorer"]
    grouped = long.groupby(keys, dropna=False)["value"]
    summary = grouped.agg(n="count", mean="mean", std="std").reset_index()
    summary["n_unscored"] = grouped.size().values - summary["n"]
    summary["sem"] = summary["std"] / np.sqrt(summary["n"])
    half = _t95(summary["n"]) * summary["sem"]
    summary["ci95_low"], summary["ci95_high"] = summary["mean"] - half, summary["mean"] + half
    summary = summary.drop(columns="std")
    if {"behavior", "fluency"} <= set(scores):
        wide = summary.set_index(keys)[["mean", "n"]].unstack("scorer")
        means, counts = wide["mean"], wide["n"]
        # SAE-TS's headline: the product of the two mean normalised grades at each alpha
        combined = (((means["behavior"] - 1) / 9) * ((means["fluency"] - 1) / 9)).rename("mean").reset_index()
        combined["scorer"] = "combined"
        combined["n"] = counts[["behavior", "fluency"]].min(axis=1).values
        summary = pd.concat([summary, combined], ignore_index=True)
    order: dict[str, int] = {}
    for name in [*SCORERS, *scores]:
        order.setdefault(name, len(order))
    summary["_order"] = summary["scorer"].map(order)
    summary = summary.sort_values([*GROUP, "_order", "method", "alpha"]).drop(columns="_order")
    summary[["n", "n_unscored"]] = summary[["n", "n_unscored"]].astype("Int64")
    return summary.reset_index(drop=True)[[*keys, "n", "n_unscored", "mean", "sem", "ci95_low", "ci95_high"]]


def _objective(table: pd.DataFrame) -> tuple[str, pd.Series]:
    """Per-alpha objective: SAE-TS's combined score when both judges ran, else the behaviour score."""
    scores = score_columns(table)
    by_alpha = table.groupby("alpha")
    if {"behavior", "fluency"} <= set(scores):
        means = by_alpha[["behavior", "fluency"]].mean()
        return "combined", ((means["behavior"] - 1) / 9) * ((means["fluency"] - 1) / 9)
    for name in ("behavior", "french_share"):
        if name in scores:
            return name, by_alpha[name].mean()
    raise CurvesError(f"no behaviour score to pick an alpha by: the logs have {scores}")


def _argmax(objective: pd.Series) -> float:
    """The alpha with the highest objective (the smallest such alpha on ties); NaN when nothing was scored."""
    return objective.idxmax() if objective.notna().any() else np.nan


def best_alphas(table: pd.DataFrame) -> pd.DataFrame:
    """Best alpha per method, picked on half of the prompts and reported on the other half (AxBench).

    The in-sample pick (chosen and reported on all prompts) stands beside it, to show the optimism.
    """
    rows = []
    for keys, part in table.groupby([*GROUP, "method"], dropna=False):
        prompts = sorted(part["prompt_id"].unique())
        select, report = set(prompts[0::2]), set(prompts[1::2])
        name, everywhere = _objective(part)
        row = dict(zip([*GROUP, "method"], keys))
        row.update(objective=name, alpha_insample=_argmax(everywhere), score_insample=everywhere.max())
        if report:
            _, picked_on = _objective(part[part["prompt_id"].isin(select)])
            _, reported_on = _objective(part[part["prompt_id"].isin(report)])
            alpha = _argmax(picked_on)
            row.update(alpha_heldout=alpha, score_heldout=reported_on.get(alpha, np.nan))
        else:
            row.update(alpha_heldout=np.nan, score_heldout=np.nan)
        row.update(n_select_prompts=len(select), n_report_prompts=len(report))
        rows.append(row)
    return pd.DataFrame(rows)


def _slug(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", "_".join(str(p) for p in parts)).strip("-")


@dataclass
class Plot:
    path: Path
    scorer: str
    points: dict[str, list[tuple[float, float]]]
    """The drawn line of each method, read back from the axes."""


def plot_curves(summary: pd.DataFrame, out: Path, table: pd.DataFrame | None = None) -> list[Plot]:
    """One PNG per group and scorer: mean vs alpha per method (one axis), 95% band from the summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    written = []
    criteria = {} if table is None else table.groupby("task")["criterion"].first().to_dict()
    for keys, group in summary.groupby(GROUP, dropna=False):
        task, model, sae, layer, positions, feature, vector = keys
        for scorer, curve in group.groupby("scorer", sort=False):
            fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
            for (method, line), color in zip(curve.groupby("method"), sns.color_palette()):
                sns.lineplot(x=line["alpha"], y=line["mean"], label=method, color=color, marker="o", ax=ax)
                ax.fill_between(line["alpha"], line["ci95_low"], line["ci95_high"], alpha=0.2, color=color)
            ax.legend(title="method")
            if vector in ("sae", "sae_ts") and pd.notna(feature):
                kind = "SAE feature" if vector == "sae" else "SAE-TS vector for feature"
                source = f"{kind} {int(feature)} of {sae}"
            else:
                source = f"vector {vector}"
            where = f"layer {layer}" + ("" if positions == "all" else f", {positions} positions")
            title = f"{task}: {scorer} vs alpha\n{model}, {source}, {where}"
            if scorer == "behavior" and criteria.get(task):
                title += f'\ncriterion: "{criteria[task]}"'
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("alpha (steering strength; multiplies the raw direction)")
            ax.set_ylabel(SCORERS.get(scorer, scorer))
            fig.tight_layout()
            path = out / f"{_slug(task, model, vector, feature, scorer)}.png"
            fig.savefig(path)
            points = {
                line.get_label(): list(zip(map(float, line.get_xdata()), map(float, line.get_ydata())))
                for line in ax.get_lines()
                if not line.get_label().startswith("_")
            }
            plt.close(fig)
            written.append(Plot(path, scorer, points))
    return written


def _markdown(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def write_outputs(paths: Sequence[str | Path], out: str | Path) -> dict[str, object]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = load_table(paths)
    summary = summarize(table)
    best = best_alphas(table)
    table.drop(columns=["created"]).to_csv(out / "samples.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    best.to_csv(out / "best_alpha.csv", index=False)
    unscored = summary[summary["n_unscored"] > 0]
    report = "\n\n".join(
        [
            "# Steering sweep summary",
            f"{len(table)} samples from {table['log'].nunique()} log(s).",
            "## Best alpha per method (picked on half the prompts, reported on the other half)",
            _markdown(best),
            "## Unscored samples (the grader gave no grade; excluded from means, never counted as zeros)",
            _markdown(unscored[[*GROUP, "method", "alpha", "scorer", "n_unscored"]]) if len(unscored) else "none",
            "## Mean, standard error and 95% interval per alpha",
            _markdown(summary),
        ]
    )
    (out / "summary.md").write_text(report + "\n")
    plots = plot_curves(summary, out, table)
    return {"table": table, "summary": summary, "best": best, "plots": plots, "report": report}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steering-curves", description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="Inspect log files or directories (.eval, .json)")
    parser.add_argument("--out", required=True, help="directory for CSVs, summary.md and PNGs")
    args = parser.parse_args(argv)
    try:
        result = write_outputs(args.logs, args.out)
    except CurvesError as error:
        print(f"steering-curves: {error}", file=sys.stderr)
        return 2
    print(result["report"])
    print(f"\nwrote {len(result['plots'])} plots and the tables to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
