"""The one statistics module: every mean, interval, combined score, best cell and comparison with prompting.

Summary, best alpha, leaderboard, terminal view, capability and the SAE-TS paper preset all call these
functions, so they cannot disagree: one combined score (``product_of_means``), one selection rule
(``best_cell``) and one interval (``cluster_bootstrap``).

The independent unit is the prompt (the question, for capability): epochs and repeated rows of a prompt are
nested inside it, so every interval resamples prompts, never rows, and copied rows cannot narrow it.
Intervals are bootstrap percentiles, so a mean of 0-1 scores keeps its interval in [0, 1] and a 1-10 grade
in [1, 10]. For the combined score and the choice of alpha, a row the grader left unscored or that failed
counts as the worst score (0), as AxBench counts an unparseable rating; the mean over scored rows stays
beside it (``mean_scored``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evals.analysis.schema import (
    AXBENCH_SCALE,
    BOOTSTRAP,
    COMBINED,
    GROUP,
    HARMONIC,
    KEYED,
    PROMPTING,
    REFERENCE,
    SCORERS,
    SETTINGS,
    CurvesError,
    harmonic_means,
)

MIN_PROMPTS = 2
"""Fewer prompts than this give a value but no interval (and a note saying why)."""


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


@dataclass(frozen=True)
class Estimate:
    """A statistic over clusters (prompts) with its percentile-bootstrap 95% interval."""

    value: float
    low: float
    high: float
    sem: float
    """The bootstrap standard error."""
    n_prompts: int
    note: str = ""
    """Why there is no interval ("" when there is one)."""


def cluster_bootstrap(
    columns: np.ndarray, clusters: Sequence[Hashable], statistic: Callable[[np.ndarray], np.ndarray], seed: int = 0
) -> Estimate:
    """``statistic(means)`` with a percentile bootstrap over clusters; ``means[..., j]`` is column j's mean over
    the rows of the drawn clusters (NaN entries left out), so rows of one cluster always travel together.

    A cluster lacking a value in some column cannot be drawn (a statistic of several columns is paired on the
    clusters that have them all). ``scipy.stats.bootstrap`` draws the clusters.
    """
    from scipy.stats import bootstrap

    values = np.asarray(columns, dtype=float).reshape(len(clusters), -1)
    codes, _ = pd.factorize(pd.Series(list(clusters), dtype=object))
    present = ~np.isnan(values)
    sums = np.zeros((codes.max() + 1 if len(codes) else 0, values.shape[1]))
    counts = np.zeros_like(sums)
    np.add.at(sums, codes, np.where(present, values, 0.0))
    np.add.at(counts, codes, present)
    keep = (counts > 0).all(axis=1)
    sums, counts = sums[keep], counts[keep]
    n = len(sums)

    def drawn(index: np.ndarray, axis: int = -1) -> np.ndarray:
        index = np.asarray(index, dtype=int)
        return statistic(sums[index].sum(axis=-2) / counts[index].sum(axis=-2))

    if n == 0:
        return Estimate(np.nan, np.nan, np.nan, np.nan, 0, "no prompt has a score")
    value = float(drawn(np.arange(n)))
    if n < MIN_PROMPTS:
        return Estimate(value, np.nan, np.nan, np.nan, n, f"{n} prompt: no interval (needs {MIN_PROMPTS})")
    result = bootstrap(
        (np.arange(n),),
        drawn,
        n_resamples=BOOTSTRAP,
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Estimate(value, float(interval.low), float(interval.high), float(result.standard_error), n)


def mean_estimate(values: Sequence[float], clusters: Sequence[Hashable], seed: int = 0) -> Estimate:
    """The mean over rows, bootstrapped over clusters."""
    return cluster_bootstrap(np.asarray(values, float)[:, None], clusters, lambda m: m[..., 0], seed)


def ratio_estimate(numerator: Sequence[float], denominator: Sequence[float], clusters: Sequence[Hashable]) -> Estimate:
    """mean(numerator) / mean(denominator) over paired rows, bootstrapped over clusters."""

    def ratio(m: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return m[..., 0] / m[..., 1]

    return cluster_bootstrap(np.column_stack([numerator, denominator]), clusters, ratio)


def combined_estimate(b: Sequence[float], f: Sequence[float], clusters: Sequence[Hashable], seed: int = 0) -> Estimate:
    """``product_of_means`` of paired normalised scores, bootstrapped over clusters."""
    return cluster_bootstrap(np.column_stack([b, f]), clusters, lambda m: m[..., 0] * m[..., 1], seed)


def score_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in SCORERS or (c not in _NON_SCORE and not c.startswith("_"))]


_NON_SCORE = {*GROUP, *SETTINGS, "method", "alpha", "prompt_id", "epoch", "sample_id", "criterion", "created", "log"}
_NON_SCORE |= {"failure", "split"}  # why a sample failed (stats.failed); its half of a held-out split


def failed(rows: pd.DataFrame) -> pd.Series:
    """Rows of samples that errored or hit a limit: in the table so they can be counted, never scored."""
    if "failure" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["failure"].fillna("").astype(str) != ""


def ran(rows: pd.DataFrame, column: str) -> bool:
    """Whether the run(s) of these rows had the scorer behind ``column``: a row holds a value, or the logged
    scorer list names it (a judge that left every row unscored still ran; a scorer with a value per key gives
    ``<scorer>_<key>``). A column another run filled does not count."""
    if column not in rows:
        return False
    if rows[column].notna().any():
        return True
    listed = rows["scorers"].dropna().unique() if "scorers" in rows else []
    names = {name for scorers in listed for name in str(scorers).split(",")}
    return any(column == name or column.startswith(f"{name}_") or column in KEYED.get(name, ()) for name in names)


def normalised(table: pd.DataFrame, scorer: str) -> pd.Series:
    """A score on 0..1: judge grades map (s-1)/9, as SAE-TS does; the deterministic ones already are."""
    if scorer in ("behavior", "fluency"):
        return (table[scorer] - 1) / 9
    return table[scorer] / AXBENCH_SCALE if scorer.startswith("axbench_") else table[scorer]


def parts(table: pd.DataFrame, name: str) -> tuple[str, ...] | None:
    """The scorers a combined score is made of in these rows' run(s) ((behaviour, fluency), or AxBench's three);
    None when they lack them (a column that exists only because another run filled it does not count)."""
    return next((pair for pair in COMBINED[name] if all(ran(table, c) for c in pair)), None)


def combined_scores(table: pd.DataFrame, prefer: str | None = None) -> list[str]:
    """The combined scores these rows can give, best first: ``prefer`` when they have it, then the judges', then
    the deterministic ones (COMBINED's order)."""
    names = [name for name in COMBINED if parts(table, name) is not None]
    return sorted(names, key=lambda name: name != prefer)


def check_objective(prefer: str | None) -> None:
    if prefer is not None and prefer not in COMBINED:
        raise CurvesError(f"unknown objective {prefer!r}: use one of {list(COMBINED)}")


def paired(rows: pd.DataFrame, name: str, worst: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(behaviour, fluency, prompt) of a combined score's rows, normalised to 0..1.

    ``worst``: every row counts, an unscored or failed one as 0 (the worst score); otherwise only the rows both
    scorers graded.
    """
    columns = parts(rows, name)
    prompts = rows["prompt_id"].to_numpy(object)
    if name in HARMONIC:  # one column of per-reply harmonic means, beside ones: the product is its mean
        values = np.column_stack([normalised(rows, c).to_numpy(float) for c in columns])
        scored = ~np.isnan(values).any(axis=1)
        per_reply, ones = harmonic_means(values), np.ones(len(rows))
        return (per_reply, ones, prompts) if worst else (per_reply[scored], ones[scored], prompts[scored])
    behaviour, fluency = columns
    b, f = normalised(rows, behaviour).to_numpy(float), normalised(rows, fluency).to_numpy(float)
    if worst:
        return np.nan_to_num(b, nan=0.0), np.nan_to_num(f, nan=0.0), prompts
    both = ~(np.isnan(b) | np.isnan(f))
    return b[both], f[both], prompts[both]


def combined_value(rows: pd.DataFrame, name: str) -> float:
    """The combined score of a cell as alphas are chosen by it: missing rows counted as the worst score."""
    b, f, _ = paired(rows, name)
    return product_of_means(b, f)


SUMMARY = ["n", "n_unscored", "n_failed", "n_prompts", "mean", "mean_scored", "sem", "ci95_low", "ci95_high", "note"]
"""summarize's columns after the cell keys. ``n``: rows in ``mean``; ``mean_scored``: the mean over scored rows
(equal to ``mean`` for a single scorer, whose missing rows are counted beside it, not as zeros)."""


def _cell_rows(cell: pd.DataFrame, scorer: str, combined: bool, seed: int) -> dict[str, object]:
    bad = failed(cell)
    if combined:
        b, f, prompts = paired(cell, scorer)
        estimate = combined_estimate(b, f, prompts, seed)
        scored_b, scored_f, _ = paired(cell, scorer, worst=False)
        n, mean_scored = len(b), product_of_means(scored_b, scored_f)
        n_unscored = int((~bad).sum()) - len(scored_b)
    else:
        values = cell.loc[~bad, scorer].to_numpy(float)
        estimate = mean_estimate(values, cell.loc[~bad, "prompt_id"].to_numpy(object), seed)
        n = int((~np.isnan(values)).sum())
        n_unscored, mean_scored = len(values) - n, estimate.value
    return {
        "n": n,
        "n_unscored": n_unscored,
        "n_failed": int(bad.sum()),
        "n_prompts": estimate.n_prompts,
        "mean": estimate.value,
        "mean_scored": mean_scored,
        "sem": estimate.sem,
        "ci95_low": estimate.low,
        "ci95_high": estimate.high,
        "note": estimate.note,
    }


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per group, method, alpha and scorer: the mean, its cluster-bootstrap 95% interval over prompts, and how
    many rows were unscored or failed.

    Only the scorers a group's run(s) had appear (a judge-free run gets no empty judge rows). Combined scores
    are SAE-TS's product of the two mean normalised scores per cell, with unscored and failed rows as 0.
    """
    scores = score_columns(table)
    rows = []
    for group_keys, group in table.groupby(GROUP, dropna=False, sort=False):
        mine = [s for s in scores if ran(group, s)]
        combined = combined_scores(group)
        for (method, alpha), cell in group.groupby(["method", "alpha"], dropna=False):
            keys = {**dict(zip(GROUP, group_keys)), "method": method, "alpha": alpha}
            for scorer in [*combined, *mine]:
                rows.append({**keys, "scorer": scorer, **_cell_rows(cell, scorer, scorer in COMBINED, seed=0)})
    columns = [*GROUP, "method", "alpha", "scorer", *SUMMARY]
    summary = pd.DataFrame(rows, columns=columns)
    order: dict[str, int] = {}
    for name in [*SCORERS, *scores]:
        order.setdefault(name, len(order))
    summary["_order"] = summary["scorer"].map(order)
    summary = summary.sort_values([*GROUP, "_order", "method", "alpha"]).drop(columns="_order")
    counts = ["n", "n_unscored", "n_failed", "n_prompts"]
    summary[counts] = summary[counts].astype("Int64")
    return summary.reset_index(drop=True)


NO_OBJECTIVE = "none (needs behaviour and fluency scores)"


def objective(table: pd.DataFrame, prefer: str | None = None) -> tuple[str, pd.Series]:
    """Per-alpha objective: a combined score (behaviour x fluency), never behaviour alone, unscored and failed
    rows counted as the worst score.

    The judges' combined score when the run had both judges, else the deterministic one; with neither, no
    alpha can be picked and the objective is all NaN.
    """
    alphas = sorted(table["alpha"].unique())
    names = combined_scores(table, prefer)
    if not names:
        return NO_OBJECTIVE, pd.Series(np.nan, index=alphas)
    products = {alpha: combined_value(rows, names[0]) for alpha, rows in table.groupby("alpha")}
    return names[0], pd.Series(products).reindex(alphas)


def best_alpha(objective: pd.Series) -> float:
    """``best_cell`` over one method's alphas; NaN when nothing was scored."""
    alpha = best_cell(objective.to_dict())
    return np.nan if alpha is None else alpha


def split_prompts(rows: pd.DataFrame) -> tuple[set, set]:
    """The held-out split: the prompts a sample marks ``select`` / ``report`` (the AxBench preset: each concept's
    first five instructions pick the alpha, the last five report it), else alternate prompts."""
    marked = rows["split"] if "split" in rows else pd.Series(dtype=object)
    if marked.isin(["select", "report"]).all() and len(marked):
        return set(rows.loc[marked == "select", "prompt_id"]), set(rows.loc[marked == "report", "prompt_id"])
    prompts = sorted(rows["prompt_id"].unique())
    return set(prompts[0::2]), set(prompts[1::2])


def held_out_pick(part: pd.DataFrame, cell: Sequence[str] = ("alpha",), prefer: str | None = None) -> dict[str, object]:
    """The best cell picked on half the prompts by the combined score and its estimate on the other half.

    Returns the objective's name, the cell (None when none can be picked), the report half's rows of that cell,
    its estimate and the split sizes; ``reason`` says why there is no pick.
    """
    names = combined_scores(part, prefer)
    name = names[0] if names else NO_OBJECTIVE
    select, report = split_prompts(part)
    out: dict[str, object] = {"objective": name, "cell": None, "rows": part.iloc[:0], "estimate": None}
    out.update(n_select_prompts=len(select), n_report_prompts=len(report), reason="")
    if not names:
        out["reason"] = f"cannot be ranked: {name}"
        return out
    if not report:
        out["reason"] = f"cannot be ranked held out: {len(select)} prompt(s), needs 2"
        return out
    keys = list(cell)
    selected = part[part["prompt_id"].isin(select)].groupby(keys)
    chosen = best_cell({key: combined_value(rows, name) for key, rows in selected}, alpha_of=lambda key: key[-1])
    if chosen is None:
        out["reason"] = "cannot be ranked: no cell was scored"
        return out
    reported = part[part["prompt_id"].isin(report)]
    rows = reported[(reported[keys] == pd.Series(chosen, index=keys)).all(axis=1)]
    b, f, prompts = paired(rows, name)
    out.update(cell=chosen if len(keys) > 1 else chosen[0], rows=rows, estimate=combined_estimate(b, f, prompts))
    return out


def best_alphas(table: pd.DataFrame, prefer: str | None = None) -> pd.DataFrame:
    """Best alpha per method by the combined score, picked on half of the prompts and reported on the other half.

    AxBench's held-out selection; the in-sample pick (chosen and reported on all prompts) stands beside it, to
    show the optimism. A method that cannot be ranked keeps its row, with the reason.
    """
    rows = []
    for keys, part in table.groupby([*GROUP, "method"], dropna=False):
        row = dict(zip([*GROUP, "method"], keys))
        if row["vector"] == PROMPTING:
            continue
        _, everywhere = objective(part, prefer)
        pick = held_out_pick(part, prefer=prefer)
        estimate: Estimate | None = pick["estimate"]
        row.update(
            objective=pick["objective"],
            alpha_insample=best_alpha(everywhere),
            score_insample=everywhere.max(),
            alpha_heldout=np.nan if pick["cell"] is None else pick["cell"],
            score_heldout=np.nan if estimate is None else estimate.value,
            heldout_low=np.nan if estimate is None else estimate.low,
            heldout_high=np.nan if estimate is None else estimate.high,
            score_heldout_scored=np.nan,
        )
        if estimate is not None:
            row["score_heldout_scored"] = product_of_means(*paired(pick["rows"], pick["objective"], worst=False)[:2])
        reference = reference_rows(table, row)
        if estimate is not None and len(reference):
            asked = reference[reference["prompt_id"].isin(pick["rows"]["prompt_id"])]
            row.update(versus(pick["rows"], asked, pick["objective"]))
        else:
            row.update(dict.fromkeys(VERSUS, np.nan), versus_note="no prompting reference" if estimate else "")
        row.update(
            n_select_prompts=pick["n_select_prompts"], n_report_prompts=pick["n_report_prompts"], note=pick["reason"]
        )
        if estimate is not None and estimate.note:
            row["note"] = estimate.note
        rows.append(row)
    return pd.DataFrame(rows)


VERSUS = ("prompting_heldout", "vs_prompting", "vs_prompting_low", "vs_prompting_high")
"""The comparison with prompting: its held-out score and steering minus it, with a 95% interval."""


def reference_rows(table: pd.DataFrame, keys: dict) -> pd.DataFrame:
    """The prompting-reference samples of a steering group: same task, concept, model, layer and settings."""
    match = table["vector"] == PROMPTING
    for key in REFERENCE:
        value = keys[key]
        match &= (table[key] == value) | (table[key].isna() & pd.isna(value))
    return table[match]


def versus(steered: pd.DataFrame, asked: pd.DataFrame, name: str, seed: int = 0) -> dict[str, object]:
    """Steering minus prompting on the prompts both have, bootstrapped over those prompts (paired), with
    unscored and failed rows as the worst score on both sides; ``versus_note`` says why there is no interval."""
    sb, sf, sp = paired(steered, name)
    if not len(asked) or parts(asked, name) is None:
        return {**dict.fromkeys(VERSUS, np.nan), "versus_note": f"the prompting reference has no {name}"}
    ab, af, ap = paired(asked, name)
    nan_s, nan_a = np.full(len(sb), np.nan), np.full(len(ab), np.nan)
    columns = np.vstack([np.column_stack([sb, sf, nan_s, nan_s]), np.column_stack([nan_a, nan_a, ab, af])])
    prompts = np.concatenate([sp, ap])

    def prompting(m: np.ndarray) -> np.ndarray:
        return m[..., 2] * m[..., 3]

    difference = cluster_bootstrap(columns, prompts, lambda m: m[..., 0] * m[..., 1] - prompting(m), seed)
    common = set(sp) & set(ap)
    asked_value = product_of_means(ab[np.isin(ap, list(common))], af[np.isin(ap, list(common))])
    return {
        "prompting_heldout": asked_value,
        "vs_prompting": difference.value,
        "vs_prompting_low": difference.low,
        "vs_prompting_high": difference.high,
        "versus_note": difference.note,
    }
