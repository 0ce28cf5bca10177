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

GENERATION = ["temperature", "top_p", "seed", "max_tokens"]
SETTINGS = [*GENERATION, "grader", "judge_template", "scorers"]
"""Generation and judging settings read from every log; runs that differ in one are kept apart."""
GROUP = ["task", "concept", "model", "sae", "layer", "positions", "feature", "vector", "settings"]
"""Samples that differ in any of these are never averaged together (``settings`` names the differing ones)."""
REFERENCE = ["task", "concept", "model", "layer", "positions", "settings"]
"""What a steering curve shares with its prompting reference (which has no SAE, feature or vector)."""
PROMPTING = "prompting"
SCORERS = {
    "combined": "SAE-TS combined score ((b-1)/9)·((f-1)/9) from the judges (0-1)",
    "combined_offline": "offline combined score french_share (or language_share) x coherence (0-1)",
    "behavior": "judge grade for the behaviour (1-10)",
    "fluency": "judge grade for fluency (1-10)",
    "french_share": "share of words that are real French words in French sentences (0-1)",
    "language_share": "share of words that are real words of the concept's language in its sentences (0-1)",
    "coherence": "word score x distinct-trigram share (0-1)",
    "unsteered_logprob": "mean log-prob of reply under unsteered model (nats/token; likelihood, not fluency)",
    "paper_judge_behavior": "SAE-TS paper's judge: behaviour grade, (g-1)/9 (0-1)",
    "paper_judge_coherence": "SAE-TS paper's judge: coherence grade, (g-1)/9 (0-1)",
}
COMBINED = {
    "combined": [("behavior", "fluency")],
    "combined_offline": [("french_share", "coherence"), ("language_share", "coherence")],
}
"""Behaviour x fluency: the judges' grades (normalised (s-1)/9, as SAE-TS) or their deterministic counterparts
(the first pair a table has)."""
AUDIT = [("behavior", "french_share"), ("behavior", "language_share"), ("fluency", "coherence")]
"""Judge scorers and the deterministic scorers that check them."""
AGREEMENT_WARNING = 0.5
BOOTSTRAP = 1000


def _provider_defaults() -> dict[str, object]:
    """The steered/ provider's defaults, for logs whose model_args omit them."""
    from steering.provider_args import ProviderArgs

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


def _setting(df: pd.DataFrame, name: str) -> pd.Series:
    """A generation setting as the run used it: the CLI's value (``--temperature``) over the task's."""
    cli, task = df.get(f"cli_{name}"), df.get(f"task_{name}")
    value = pd.Series(None, index=df.index, dtype=object)
    for source in (task, cli):
        if source is not None:
            value = source.astype(object).where(source.notna(), value)
    return value.map(lambda v: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else v)


def _grader(roles: object) -> str:
    roles = _as_dict(roles)
    grader = roles.get("grader")
    if isinstance(grader, dict):
        return str(grader.get("model", "-"))
    return str(grader) if grader else "-"


def _scorer_names(scorers: object) -> str:
    if isinstance(scorers, str):
        scorers = json.loads(scorers) if scorers.strip().startswith("[") else []
    names = [s.get("name", "?") if isinstance(s, dict) else str(s) for s in scorers or []]
    return ",".join(sorted(names)) or "-"


def settings_label(table: pd.DataFrame) -> pd.Series:
    """Names the settings that vary across the loaded runs (``temperature=0.5``); "-" when none do."""
    varying = [name for name in SETTINGS if table[name].astype(str).nunique() > 1]
    if not varying:
        return pd.Series("-", index=table.index)
    return table[varying].astype(str).apply(lambda row: ", ".join(f"{k}={v}" for k, v in row.items()), axis=1)


def _read_samples(files: list[str], columns: list) -> tuple[pd.DataFrame, list[str]]:
    """samples_df over the readable logs; an unreadable one is skipped and named, never fatal."""
    from inspect_ai.analysis import samples_df

    frames, skipped = [], []
    for file in files:
        try:
            frames.append(samples_df([file], columns=columns, quiet=True))
        except Exception as error:  # a truncated or foreign file must not hide the good logs
            skipped.append(f"{file}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), skipped


def load_table(paths: Sequence[str | Path], report: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """One row per (log's latest copy of a) sample: group keys, settings, method, alpha, prompt, epoch, scores.

    ``report`` (if given) collects what was left out and why: ``skipped_logs``,
    ``failed_samples`` (errored or stopped by a limit) and ``duplicates``.
    """
    from inspect_ai.analysis import EvalColumn, SampleSummary

    columns = [
        *SampleSummary,
        EvalColumn("task", path="eval.task"),
        EvalColumn("model", path="eval.model"),
        # samples_df's own model_args column reads another field
        EvalColumn("model_args", path="eval.model_args"),
        EvalColumn("created", path="eval.created"),
        EvalColumn("criterion", path="eval.metadata.criterion"),
        EvalColumn("judge_template", path="eval.metadata.judge_template"),
        EvalColumn("model_roles", path="eval.model_roles"),
        EvalColumn("scorer_specs", path="eval.scorers"),
        *(EvalColumn(f"task_{k}", path=f"plan.config.{k}") for k in GENERATION),
        *(EvalColumn(f"cli_{k}", path=f"eval.model_generate_config.{k}") for k in GENERATION),
    ]
    report = {} if report is None else report
    files = _log_files(paths)
    df, report["skipped_logs"] = _read_samples(files, columns)
    missing = [f"metadata {key!r}" for key in ("alpha", "method") if f"metadata_{key}" not in df.columns]
    if df.empty or missing:
        skipped = f"; unreadable: {report['skipped_logs']}" if report["skipped_logs"] else ""
        raise CurvesError(
            f"the logs {files[:3]}{'...' if len(files) > 3 else ''} have no steering sweep samples: "
            f"missing {missing or ['samples']} (run a task built on evals.sweep){skipped}"
        )
    args = df["model_args"].apply(_as_dict)
    defaults = _provider_defaults()
    table = pd.DataFrame(
        {
            "task": df["task"],
            "concept": df.get("metadata_concept", pd.Series("-", index=df.index)).fillna("-"),
            "model": df["model"],
            # weighted SAE-TS targets ("8392:0.5,15769:0.5") stand where a single feature would
            "feature": _features(df),
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
            "failure": _failures(df),
            "created": pd.to_datetime(df["created"]),
            "log": df["log"],
            **{name: _setting(df, name) for name in GENERATION},
            "grader": df["model_roles"].apply(_grader),
            "judge_template": df.get("judge_template", pd.Series(None, index=df.index)).fillna("-"),
            "scorers": df["scorer_specs"].apply(_scorer_names),
        }
    )
    table["settings"] = settings_label(table)
    table.loc[~table["vector"].isin(["sae", "sae_ts"]), "sae"] = "-"  # the SAE plays no part there
    for column in df.columns:
        if column.startswith("score_"):
            for name, values in _score_values(column.removeprefix("score_"), df[column]).items():
                table[name] = values
    # a resumed or retried run copies finished samples into a new log: keep each sample once, preferring
    # a finished copy, then the newest log
    keys = [*GROUP, "sample_id", "epoch"]
    table["_finished"] = table["failure"] == ""
    table = table.sort_values(["_finished", "created"])
    duplicated = table.duplicated(subset=keys, keep="last")
    report["duplicates"] = [f"{r.sample_id} (epoch {r.epoch}) in {r.log}" for r in table[duplicated].itertuples()]
    table = table[~duplicated]
    failed = table[~table["_finished"]]
    report["failed_samples"] = [f"{r.sample_id} (epoch {r.epoch}): {r.failure} [{r.log}]" for r in failed.itertuples()]
    table = table[table["_finished"]].drop(columns=["_finished", "failure"])
    if table.empty:
        raise CurvesError(
            f"no usable samples: all {len(failed)} sample(s) in {files[:3]} errored or hit a limit, "
            f"e.g. {report['failed_samples'][:3]}"
        )
    return table.sort_values([*GROUP, "method", "alpha", "prompt_id", "epoch"]).reset_index(drop=True)


def _score_values(name: str, column: pd.Series) -> dict[str, pd.Series]:
    """A scorer's numbers; a scorer with a value per key (the SAE-TS paper preset's behaviour and coherence)
    gives one column per key, ``<scorer>_<key>``, rather than one unreadable column."""
    parsed = column.map(lambda v: json.loads(v) if isinstance(v, str) and v.startswith("{") else v)
    if not parsed.map(lambda v: isinstance(v, dict)).any():
        return {name: pd.to_numeric(column, errors="coerce")}
    keys = sorted({k for v in parsed if isinstance(v, dict) for k in v})
    return {
        f"{name}_{key}": pd.to_numeric(parsed.map(lambda v, k=key: v.get(k) if isinstance(v, dict) else None))
        for key in keys
    }


def _features(df: pd.DataFrame) -> pd.Series:
    feature = df.get("metadata_feature", pd.Series(np.nan, index=df.index))
    if "metadata_targets" not in df:
        return feature
    # one type per column, so the table still sorts: feature ids become their labels too
    labels = feature.map(lambda f: f if pd.isna(f) else str(int(f))).astype(object)
    return labels.where(df["metadata_targets"].isna(), df["metadata_targets"])


def _feature_label(feature: object) -> str:
    return feature if isinstance(feature, str) else str(int(feature))


def _weighted(feature: object) -> bool:
    return isinstance(feature, str) and ":" in feature


def _failures(df: pd.DataFrame) -> pd.Series:
    """Why a sample cannot be used ("" when it can): an error, or a limit that stopped it."""
    error = df["error"].fillna("").astype(str) if "error" in df else pd.Series("", index=df.index)
    limit = df["limit"].fillna("").astype(str) if "limit" in df else pd.Series("", index=df.index)
    first_line = error.str.split("\n").str[0].str.slice(0, 160)
    return first_line.where(error != "", ("limit: " + limit).where(limit != "", ""))


def score_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in SCORERS or c not in _NON_SCORE]


_NON_SCORE = {*GROUP, *SETTINGS, "method", "alpha", "prompt_id", "epoch", "sample_id", "criterion", "created", "log"}


def _t95(n: pd.Series) -> pd.Series:
    from scipy.stats import t

    return n.apply(lambda k: t.ppf(0.975, k - 1) if k > 1 else np.nan)


def _normalised(table: pd.DataFrame, scorer: str) -> pd.Series:
    """A score on 0..1: judge grades map (s-1)/9, as SAE-TS does; the deterministic ones already are."""
    return (table[scorer] - 1) / 9 if scorer in ("behavior", "fluency") else table[scorer]


def _parts(table: pd.DataFrame, name: str) -> tuple[str, str] | None:
    """The (behaviour, fluency) scorers a combined score is made of in this table; None when it lacks them."""
    return next((pair for pair in COMBINED[name] if set(pair) <= set(table.columns)), None)


def combined_scores(table: pd.DataFrame) -> list[str]:
    """The combined scores this table can give, best first: the judges', then the deterministic one."""
    return [name for name in COMBINED if _parts(table, name) is not None]


def _paired(rows: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The normalised behaviour and fluency scores of a combined score, for the rows both scorers graded."""
    behaviour, fluency = _parts(rows, name)
    b, f = _normalised(rows, behaviour).to_numpy(float), _normalised(rows, fluency).to_numpy(float)
    both = ~(np.isnan(b) | np.isnan(f))
    return b[both], f[both]


def _combined_cell(b: np.ndarray, f: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """mean(b) x mean(f) over paired scores, with a paired bootstrap 95% interval."""
    n = len(b)
    if n == 0:
        return {"n": 0, "mean": np.nan, "sem": np.nan, "ci95_low": np.nan, "ci95_high": np.nan}
    value = b.mean() * f.mean()
    if n < 2:
        return {"n": n, "mean": value, "sem": np.nan, "ci95_low": np.nan, "ci95_high": np.nan}
    picks = rng.integers(0, n, size=(BOOTSTRAP, n))
    resampled = b[picks].mean(axis=1) * f[picks].mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {"n": n, "mean": value, "sem": resampled.std(ddof=1), "ci95_low": low, "ci95_high": high}


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard error, 95% interval, scored and unscored counts per group, method, alpha, scorer.

    Combined scores are SAE-TS's product of the two mean normalised scores per alpha, over
    the samples both scorers graded; their interval is a paired bootstrap over samples.
    """
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
    rng = np.random.default_rng(0)
    rows = []
    for name in combined_scores(table):
        for cell_keys, cell in table.groupby([*GROUP, "method", "alpha"], dropna=False):
            stats = _combined_cell(*_paired(cell, name), rng)
            rows.append(
                {
                    **dict(zip([*GROUP, "method", "alpha"], cell_keys)),
                    "scorer": name,
                    **stats,
                    "n_unscored": len(cell) - stats["n"],
                }
            )
    if rows:
        summary = pd.concat([summary, pd.DataFrame(rows)], ignore_index=True)
    order: dict[str, int] = {}
    for name in [*SCORERS, *scores]:
        order.setdefault(name, len(order))
    summary["_order"] = summary["scorer"].map(order)
    summary = summary.sort_values([*GROUP, "_order", "method", "alpha"]).drop(columns="_order")
    summary[["n", "n_unscored"]] = summary[["n", "n_unscored"]].astype("Int64")
    return summary.reset_index(drop=True)[[*keys, "n", "n_unscored", "mean", "sem", "ci95_low", "ci95_high"]]


def _objective(table: pd.DataFrame) -> tuple[str, pd.Series]:
    """Per-alpha objective: a combined score (behaviour x fluency), never behaviour alone.

    The judges' combined score when both judges ran, else the deterministic one; with
    neither, no alpha can be picked and the objective is all NaN.
    """
    names = combined_scores(table)
    if not names:
        return "none (needs behaviour and fluency scores)", pd.Series(np.nan, index=sorted(table["alpha"].unique()))
    products = {}
    for alpha, rows in table.groupby("alpha"):
        b, f = _paired(rows, names[0])
        products[alpha] = b.mean() * f.mean() if len(b) else np.nan
    return names[0], pd.Series(products).reindex(sorted(table["alpha"].unique()))


def _argmax(objective: pd.Series) -> float:
    """The alpha with the highest objective (the smallest such alpha on ties); NaN when nothing was scored."""
    return objective.idxmax() if objective.notna().any() else np.nan


def best_alphas(table: pd.DataFrame) -> pd.DataFrame:
    """Best alpha per method by the combined score, picked on half of the prompts and reported on the other half.

    AxBench's held-out selection; the in-sample pick (chosen and reported on all prompts)
    stands beside it, to show the optimism.
    """
    rows = []
    rng = np.random.default_rng(0)
    for keys, part in table.groupby([*GROUP, "method"], dropna=False):
        row = dict(zip([*GROUP, "method"], keys))
        if row["vector"] == PROMPTING:
            continue
        select, report = split_prompts(part["prompt_id"])
        name, everywhere = _objective(part)
        row.update(objective=name, alpha_insample=_argmax(everywhere), score_insample=everywhere.max())
        alpha, score = np.nan, np.nan
        if report:
            _, picked_on = _objective(part[part["prompt_id"].isin(select)])
            _, reported_on = _objective(part[part["prompt_id"].isin(report)])
            alpha = _argmax(picked_on)
            score = reported_on.get(alpha, np.nan)
        row.update(alpha_heldout=alpha, score_heldout=score)
        reference = reference_rows(table, row)
        if len(reference) and report and name in COMBINED and not np.isnan(alpha):
            steered = part[(part["alpha"] == alpha) & part["prompt_id"].isin(report)]
            asked = reference[reference["prompt_id"].isin(report)]
            row.update(_versus(steered, asked, name, rng))
        else:
            row.update(dict.fromkeys(VERSUS, np.nan))
        row.update(n_select_prompts=len(select), n_report_prompts=len(report))
        rows.append(row)
    return pd.DataFrame(rows)


VERSUS = ("prompting_heldout", "vs_prompting", "vs_prompting_low", "vs_prompting_high")
"""best_alphas' comparison with prompting: its held-out score and steering minus it, with a 95% interval."""


def split_prompts(prompt_ids: pd.Series) -> tuple[set, set]:
    """AxBench's held-out split: alternate prompts pick the alpha, the others report its score."""
    prompts = sorted(prompt_ids.unique())
    return set(prompts[0::2]), set(prompts[1::2])


def reference_rows(table: pd.DataFrame, keys: dict) -> pd.DataFrame:
    """The prompting-reference samples of a steering group: same task, concept, model, layer and settings."""
    match = table["vector"] == PROMPTING
    for key in REFERENCE:
        value = keys[key]
        match &= (table[key] == value) | (table[key].isna() & pd.isna(value))
    return table[match]


def _per_prompt(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    behaviour, fluency = _parts(rows, name)
    frame = pd.DataFrame(
        {"prompt_id": rows["prompt_id"], "b": _normalised(rows, behaviour), "f": _normalised(rows, fluency)}
    ).dropna()
    return frame.groupby("prompt_id")[["b", "f"]].mean()


def _versus(steered: pd.DataFrame, asked: pd.DataFrame, name: str, rng: np.random.Generator) -> dict[str, float]:
    """Held-out steering minus prompting on the same prompts, with a bootstrap over prompts (95% interval)."""
    s, p = _per_prompt(steered, name), _per_prompt(asked, name)
    common = s.index.intersection(p.index)
    s, p = s.loc[common].to_numpy(), p.loc[common].to_numpy()
    if len(common) == 0:
        return dict.fromkeys(VERSUS, np.nan)
    prompting = p[:, 0].mean() * p[:, 1].mean()
    difference = s[:, 0].mean() * s[:, 1].mean() - prompting
    low = high = np.nan
    if len(common) > 1:
        picks = rng.integers(0, len(common), size=(BOOTSTRAP, len(common)))
        diffs = s[picks, 0].mean(1) * s[picks, 1].mean(1) - p[picks, 0].mean(1) * p[picks, 1].mean(1)
        low, high = np.percentile(diffs, [2.5, 97.5])
    return dict(zip(VERSUS, (prompting, difference, low, high)))


def _spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rho: Pearson's r of average ranks (NaN when either side is constant)."""
    rx, ry = x.rank(), y.rank()
    if rx.std() == 0 or ry.std() == 0:
        return np.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def judge_audit(table: pd.DataFrame, n_disagreeing: int = 5) -> pd.DataFrame:
    """Rank agreement of each judge with its deterministic check, per group, and the samples they most disagree on."""
    rows = []
    for judge, check in AUDIT:
        if not {judge, check} <= set(table.columns):
            continue
        for keys, part in table.groupby(GROUP, dropna=False):
            both = part.dropna(subset=[judge, check])
            rho = _spearman(both[judge], both[check]) if len(both) > 2 else np.nan
            # disagreement: the gap between the two percentile ranks
            gap = (both[judge].rank(pct=True) - both[check].rank(pct=True)).abs()
            worst = both.assign(gap=gap).nlargest(n_disagreeing, "gap")
            ids = ", ".join(f"{r.sample_id} ({r[judge]:g} vs {r[check]:.2f})" for _, r in worst.iterrows())
            rows.append(
                {
                    **dict(zip(GROUP, keys)),
                    "judge": judge,
                    "check": check,
                    "n": len(both),
                    "spearman": rho,
                    "most_disagreeing": ids or "-",
                }
            )
    return pd.DataFrame(rows)


def _slug(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", "_".join(str(p) for p in parts)).strip("-")


@dataclass
class Plot:
    path: Path
    scorer: str
    points: dict[str, list[tuple[float, float]]]
    """The drawn line of each method, read back from the axes."""
    clipped: list[str]
    """Text that does not lie wholly inside the saved figure (none, or the picture cuts a label off)."""


def _clipped_texts(fig: object) -> list[str]:
    """Every drawn, non-empty text whose box leaves the figure.

    Matplotlib keeps tick labels for ticks outside an axis's view limits but never draws them; those are skipped.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for label in ax.get_xticklabels():
            centre = label.get_window_extent(renderer).x0 + label.get_window_extent(renderer).width / 2
            if not box.x0 - 1 <= centre <= box.x1 + 1:
                hidden.add(id(label))
        for label in ax.get_yticklabels():
            centre = label.get_window_extent(renderer).y0 + label.get_window_extent(renderer).height / 2
            if not box.y0 - 1 <= centre <= box.y1 + 1:
                hidden.add(id(label))
    box = fig.bbox
    clipped = []
    for text in fig.findobj(lambda artist: hasattr(artist, "get_text") and hasattr(artist, "get_window_extent")):
        if id(text) in hidden or not text.get_visible() or not text.get_text().strip():
            continue
        extent = text.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.y0 < box.y0 - 1 or extent.x1 > box.x1 + 1 or extent.y1 > box.y1 + 1:
            clipped.append(text.get_text())
    return clipped


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(line for part in text.split("\n") for line in textwrap.wrap(part, width) or [""])


def _label(scorer: str, width: int = 34) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(SCORERS.get(scorer, scorer), width))


def _source(keys: tuple) -> str:
    task, concept, model, sae, layer, positions, feature, vector, settings = keys
    if vector == PROMPTING:
        source = "prompting reference (unsteered, the behaviour asked for in words)"
    elif vector in ("sae", "sae_ts") and pd.notna(feature):
        kind = "SAE feature" if vector == "sae" else "SAE-TS vector for feature"
        if _weighted(feature):
            kind = "SAE features, summed with weights" if vector == "sae" else "SAE-TS vector for the weighted targets"
        source = f"{kind} {_feature_label(feature)} of {sae}"
    else:
        source = f"vector {vector}"
    where = f"layer {layer}" + ("" if positions == "all" else f", {positions} positions")
    about = "" if concept == "-" else f"concept {concept}: "
    return f"{about}{model}, {source}, {where}" + ("" if settings == "-" else f"\n{settings}")


def _draw(
    ax: object, curve: pd.DataFrame, palette: dict[str, object], legend: bool, reference: pd.DataFrame | None = None
) -> None:
    import seaborn as sns

    for method, line in curve.groupby("method"):
        color = palette[method]
        sns.lineplot(x=line["alpha"], y=line["mean"], label=method, color=color, marker="o", ax=ax, legend=False)
        ax.fill_between(line["alpha"], line["ci95_low"], line["ci95_high"], alpha=0.2, color=color)
    if reference is not None and len(reference) and pd.notna(reference["mean"].iloc[0]):
        cell = reference.iloc[0]
        ax.axhline(cell["mean"], color="0.3", linestyle="--", linewidth=1.2, label=PROMPTING)
        if pd.notna(cell["ci95_low"]):
            ax.axhspan(cell["ci95_low"], cell["ci95_high"], color="0.5", alpha=0.12)
    if legend:
        ax.legend(title="method", fontsize=8, title_fontsize=8)


def _slug_for(keys: tuple, *extra: object) -> str:
    task, concept, model, sae, layer, positions, feature, vector, settings = keys
    parts = [task, concept, model, vector, *([_feature_label(feature)] if pd.notna(feature) else []), settings, *extra]
    return _slug(*(p for p in parts if p != "-"))


def plot_curves(summary: pd.DataFrame, out: Path, table: pd.DataFrame | None = None) -> list[Plot]:
    """Per group: one PNG per scorer (mean vs alpha per method, 95% band) and one overview grid of them all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    written = []
    criteria = {} if table is None else table.groupby("task")["criterion"].first().to_dict()
    for keys, group in summary.groupby(GROUP, dropna=False):
        task = keys[0]
        if dict(zip(GROUP, keys))["vector"] == PROMPTING:
            continue  # drawn as the reference line of the steering curves it belongs to
        reference = reference_rows(summary, dict(zip(GROUP, keys)))
        palette = dict(zip(sorted(group["method"].unique()), sns.color_palette()))
        scorers = list(dict.fromkeys(group["scorer"]))
        for scorer in scorers:
            curve = group[group["scorer"] == scorer]
            fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
            _draw(ax, curve, palette, legend=True, reference=reference[reference["scorer"] == scorer])
            title = f"{task}: {scorer} vs alpha\n{_source(keys)}"
            if scorer == "behavior" and criteria.get(task):
                title += f'\ncriterion: "{criteria[task]}"'
            ax.set_title(_wrap(title, 95), fontsize=10)
            ax.set_xlabel("alpha (steering strength; multiplies the raw direction)")
            ax.set_ylabel(_label(scorer), fontsize=10)
            fig.tight_layout()
            path = out / f"{_slug_for(keys, scorer)}.png"
            fig.savefig(path)
            points = {
                line.get_label(): list(zip(map(float, line.get_xdata()), map(float, line.get_ydata())))
                for line in ax.get_lines()
                if not line.get_label().startswith("_")
            }
            written.append(Plot(path, scorer, points, _clipped_texts(fig)))
            plt.close(fig)
        written.append(_overview(group, keys, scorers, palette, out, reference))
    return written


OVERVIEW_ORDER = ["behavior", "fluency", "combined", "french_share", "language_share", "coherence", "combined_offline"]


def _overview(
    group: pd.DataFrame, keys: tuple, scorers: list[str], palette: dict, out: Path, reference: pd.DataFrame
) -> Plot:
    """Behaviour, fluency, combined and the deterministic checks in one grid; methods as colours."""
    import matplotlib.pyplot as plt

    panels = [s for s in OVERVIEW_ORDER if s in scorers] + [s for s in scorers if s not in OVERVIEW_ORDER]
    columns = {1: 1, 2: 2, 4: 2}.get(len(panels), 3)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows + 0.9), dpi=100, squeeze=False)
    for ax, scorer in zip(axes.flat, panels):
        _draw(ax, group[group["scorer"] == scorer], palette, False, reference[reference["scorer"] == scorer])
        ax.set_title(scorer, fontsize=10)
        ax.set_xlabel("alpha", fontsize=9)
        ax.set_ylabel(_label(scorer, 30), fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=color, marker="o", label=method) for method, color in palette.items()]
    if len(reference):
        handles.append(plt.Line2D([], [], color="0.3", linestyle="--", label=PROMPTING))
    fig.legend(handles=handles, title="method", loc="upper right", fontsize=8, title_fontsize=8)
    fig.suptitle(_wrap(f"{keys[0]}: scores vs alpha\n{_source(keys)}", 40 * columns), fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    path = out / f"{_slug_for(keys, 'overview')}.png"
    fig.savefig(path)
    clipped = _clipped_texts(fig)
    plt.close(fig)
    return Plot(path, "overview", {}, clipped)


def _markdown(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _listing(items: list[str], limit: int = 50) -> str:
    if not items:
        return "none"
    more = [f"- ... and {len(items) - limit} more"] if len(items) > limit else []
    return "\n".join([*(f"- {item}" for item in items[:limit]), *more])


def _audit_section(audit: pd.DataFrame) -> str:
    if audit.empty:
        return "No judge ran beside its deterministic check (behavior/french_share, fluency/coherence)."
    lines = [_markdown(audit)]
    for row in audit.itertuples():
        if not row.spearman >= AGREEMENT_WARNING:
            lines.append(
                f"**Warning:** {row.judge} and {row.check} agree poorly (Spearman {row.spearman:.2f}, n={row.n}) "
                f"in {row.task}/{row.vector}{'' if row.settings == '-' else f' ({row.settings})'}: "
                "open the samples listed above in `inspect view` before trusting either."
            )
    return "\n\n".join(lines)


def write_outputs(paths: Sequence[str | Path], out: str | Path) -> dict[str, object]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dropped: dict[str, list[str]] = {}
    table = load_table(paths, dropped)
    summary = summarize(table)
    best = best_alphas(table)
    audit = judge_audit(table)
    from evals.leaderboard import leaderboard, leaderboard_markdown, plot_leaderboard

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
            _markdown(best),
            "## Leaderboard (steering vs prompting)",
            board_md,
            "## Judge audit (Spearman rank correlation of each judge with its deterministic check)",
            _audit_section(audit),
            "## Failed samples (errored or stopped by a limit; excluded, never averaged in)",
            _listing(dropped["failed_samples"]),
            "## Unreadable logs (skipped)",
            _listing(dropped["skipped_logs"]),
            "## Unscored samples (the grader gave no grade; excluded from means, never counted as zeros)",
            _markdown(unscored[[*GROUP, "method", "alpha", "scorer", "n_unscored"]]) if len(unscored) else "none",
            "## Mean, standard error and 95% interval per alpha",
            _markdown(summary),
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


def compact(summary: pd.DataFrame, best: pd.DataFrame) -> str:
    """The terminal view: per group, one row per (scorer, method) with its mean at each alpha, then the best alpha."""
    blocks = []
    for keys, group in summary.groupby(GROUP, dropna=False):
        if dict(zip(GROUP, keys))["vector"] == PROMPTING:
            continue  # shown inside the blocks of the steering curves it is the reference of
        reference = reference_rows(summary, dict(zip(GROUP, keys)))
        # the summary is already in scorer order; keep it
        wide = group.pivot_table(index=["scorer", "method"], columns="alpha", values="mean", sort=False)
        wide.columns = [f"{alpha:+g}" for alpha in wide.columns]
        chosen = best
        for key, value in zip(GROUP, keys):
            chosen = chosen[(chosen[key] == value) | (chosen[key].isna() & pd.isna(value))]
        picks = [
            f"  {r.method}: alpha {r.alpha_insample:g} ({r.objective} {r.score_insample:.2f}); held out: "
            f"alpha {r.alpha_heldout:g} -> {r.score_heldout:.2f}"
            + (
                ""
                if pd.isna(r.vs_prompting)
                else f"; vs prompting {r.prompting_heldout:.2f}: {r.vs_prompting:+.2f} "
                f"[{r.vs_prompting_low:+.2f}, {r.vs_prompting_high:+.2f}]"
            )
            for r in chosen.itertuples()
        ]
        asked = [
            f"{r.scorer} {r.mean:.2f}"
            for r in reference.itertuples()
            if r.scorer in ("combined", "combined_offline", "behavior", "french_share", "language_share", "coherence")
        ]
        blocks.append(
            "\n".join(
                [
                    f"{keys[0]}: {_source(keys)}",
                    wide.to_string(float_format=lambda v: f"{v:.2f}"),
                    *([f"prompting reference: {', '.join(asked)}"] if asked else []),
                    "best alpha:",
                    *picks,
                ]
            )
        )
    return "\n\n".join(blocks)


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
    for item in result["dropped"]["skipped_logs"]:
        print(f"steering-curves: warning: skipped unreadable log {item}", file=sys.stderr)
    if result["dropped"]["failed_samples"]:
        print(
            f"steering-curves: warning: {len(result['dropped']['failed_samples'])} failed sample(s) left out "
            "(listed in summary.md)",
            file=sys.stderr,
        )
    print(compact(result["summary"], result["best"]))
    print(f"\nwrote {len(result['plots'])} plots, summary.md (every figure) and the tables to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
