"""The one statistics module: every mean, interval, combined score, best cell and comparison with prompting.

Summary, best alpha, leaderboard, terminal view and the SAE-TS paper preset all call these functions, so
they cannot disagree: one combined score (``product_of_means``) and one selection rule (``best_cell``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from evals.analysis.schema import BOOTSTRAP, COMBINED, GROUP, PROMPTING, REFERENCE, SCORERS, SETTINGS


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half): how well an
    offline metric separates its labelled classes."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positive for n in negative]
    return sum(pairs) / len(pairs)


def product_of_means(behaviour: Sequence[float], fluency: Sequence[float]) -> float:
    """SAE-TS's combined score: mean(behaviour) x mean(fluency), both on 0..1, over paired scores."""
    return float(np.mean(behaviour) * np.mean(fluency)) if len(behaviour) else float("nan")


def best_cell(scores: Mapping[Hashable, float], alpha_of: Callable[[Hashable], float] = float) -> Hashable | None:
    """The cell with the highest score; ties go to the smallest |alpha|, then the lower alpha, then the
    cell's name. NaN scores never win; None when nothing was scored."""
    finite = {cell: s for cell, s in scores.items() if s is not None and not np.isnan(s)}
    if not finite:
        return None
    return min(finite, key=lambda c: (-finite[c], abs(alpha_of(c)), alpha_of(c), str(c)))


def score_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in SCORERS or c not in _NON_SCORE]


_NON_SCORE = {*GROUP, *SETTINGS, "method", "alpha", "prompt_id", "epoch", "sample_id", "criterion", "created", "log"}


def _t95(n: pd.Series) -> pd.Series:
    from scipy.stats import t

    return n.apply(lambda k: t.ppf(0.975, k - 1) if k > 1 else np.nan)


def normalised(table: pd.DataFrame, scorer: str) -> pd.Series:
    """A score on 0..1: judge grades map (s-1)/9, as SAE-TS does; the deterministic ones already are."""
    return (table[scorer] - 1) / 9 if scorer in ("behavior", "fluency") else table[scorer]


def parts(table: pd.DataFrame, name: str) -> tuple[str, str] | None:
    """The (behaviour, fluency) scorers a combined score is made of in this table; None when it lacks them."""
    return next((pair for pair in COMBINED[name] if set(pair) <= set(table.columns)), None)


def combined_scores(table: pd.DataFrame) -> list[str]:
    """The combined scores this table can give, best first: the judges', then the deterministic one."""
    return [name for name in COMBINED if parts(table, name) is not None]


def paired(rows: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The normalised behaviour and fluency scores of a combined score, for the rows both scorers graded."""
    behaviour, fluency = parts(rows, name)
    b, f = normalised(rows, behaviour).to_numpy(float), normalised(rows, fluency).to_numpy(float)
    both = ~(np.isnan(b) | np.isnan(f))
    return b[both], f[both]


def combined_cell(b: np.ndarray, f: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """mean(b) x mean(f) over paired scores, with a paired bootstrap 95% interval."""
    n = len(b)
    if n == 0:
        return {"n": 0, "mean": np.nan, "sem": np.nan, "ci95_low": np.nan, "ci95_high": np.nan}
    value = product_of_means(b, f)
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
            stats = combined_cell(*paired(cell, name), rng)
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


def objective(table: pd.DataFrame) -> tuple[str, pd.Series]:
    """Per-alpha objective: a combined score (behaviour x fluency), never behaviour alone.

    The judges' combined score when both judges ran, else the deterministic one; with
    neither, no alpha can be picked and the objective is all NaN.
    """
    names = combined_scores(table)
    if not names:
        return "none (needs behaviour and fluency scores)", pd.Series(np.nan, index=sorted(table["alpha"].unique()))
    products = {}
    for alpha, rows in table.groupby("alpha"):
        b, f = paired(rows, names[0])
        products[alpha] = product_of_means(b, f)
    return names[0], pd.Series(products).reindex(sorted(table["alpha"].unique()))


def best_alpha(objective: pd.Series) -> float:
    """``best_cell`` over one method's alphas; NaN when nothing was scored."""
    alpha = best_cell(objective.to_dict())
    return np.nan if alpha is None else alpha


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
        name, everywhere = objective(part)
        row.update(objective=name, alpha_insample=best_alpha(everywhere), score_insample=everywhere.max())
        alpha, score = np.nan, np.nan
        if report:
            _, picked_on = objective(part[part["prompt_id"].isin(select)])
            _, reported_on = objective(part[part["prompt_id"].isin(report)])
            alpha = best_alpha(picked_on)
            score = reported_on.get(alpha, np.nan)
        row.update(alpha_heldout=alpha, score_heldout=score)
        reference = reference_rows(table, row)
        if len(reference) and report and name in COMBINED and not np.isnan(alpha):
            steered = part[(part["alpha"] == alpha) & part["prompt_id"].isin(report)]
            asked = reference[reference["prompt_id"].isin(report)]
            row.update(versus(steered, asked, name, rng))
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


def mean_interval(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Bootstrap 95% interval of a mean over its samples (NaN below two samples)."""
    if len(values) < 2:
        return np.nan, np.nan
    means = values[rng.integers(0, len(values), (BOOTSTRAP, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def ratio_of_means(pairs: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """mean(pairs[:, 0]) / mean(pairs[:, 1]) over paired rows, with a paired bootstrap 95% interval."""
    if not len(pairs) or pairs[:, 1].mean() == 0:
        return {"ratio": np.nan, "ci95_low": np.nan, "ci95_high": np.nan, "n": len(pairs)}
    draws = pairs[rng.integers(0, len(pairs), (BOOTSTRAP, len(pairs)))]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = draws[..., 0].mean(axis=1) / draws[..., 1].mean(axis=1)
    ratios = ratios[np.isfinite(ratios)]
    return {
        "ratio": pairs[:, 0].mean() / pairs[:, 1].mean(),
        "ci95_low": float(np.percentile(ratios, 2.5)),
        "ci95_high": float(np.percentile(ratios, 97.5)),
        "n": len(pairs),
    }


def _per_prompt(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    behaviour, fluency = parts(rows, name)
    frame = pd.DataFrame(
        {"prompt_id": rows["prompt_id"], "b": normalised(rows, behaviour), "f": normalised(rows, fluency)}
    ).dropna()
    return frame.groupby("prompt_id")[["b", "f"]].mean()


def versus(steered: pd.DataFrame, asked: pd.DataFrame, name: str, rng: np.random.Generator) -> dict[str, float]:
    """Held-out steering minus prompting on the same prompts, with a bootstrap over prompts (95% interval)."""
    s, p = _per_prompt(steered, name), _per_prompt(asked, name)
    common = s.index.intersection(p.index)
    s, p = s.loc[common].to_numpy(), p.loc[common].to_numpy()
    if len(common) == 0:
        return dict.fromkeys(VERSUS, np.nan)
    prompting = product_of_means(p[:, 0], p[:, 1])
    difference = product_of_means(s[:, 0], s[:, 1]) - prompting
    low = high = np.nan
    if len(common) > 1:
        picks = rng.integers(0, len(common), size=(BOOTSTRAP, len(common)))
        diffs = s[picks, 0].mean(1) * s[picks, 1].mean(1) - p[picks, 0].mean(1) * p[picks, 1].mean(1)
        low, high = np.percentile(diffs, [2.5, 97.5])
    return dict(zip(VERSUS, (prompting, difference, low, high)))
