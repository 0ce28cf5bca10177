"""Offline instruction relevance, 0..1: does the reply still answer what it was asked?

Measured as a pointwise mutual information under the reference model: how many nats per token more likely
the reply is after its own prompt than after nothing (BOS alone). A reply that answers "Explain
photosynthesis" is predicted by that prompt (chlorophyll, light, sugar), in any language the reference knows;
fluent French about cheese is not, and neither is a generic reply that would follow any prompt. A logistic of
that gain, with constants fitted on ``tests/data/relevance_labelled.jsonl`` (matched pairs from both demos'
real replies, the same replies under other prompts, and hand-written fluent replies off the topic), gives
the score; ``benchmarks/relevance_labelled.py`` reports its held-out AUC.

What it misses: a reply that restates its prompt word for word gains the most (a copy is very likely after
its source), so a loop on the prompt scores as relevant (``fluency_offline`` catches the loop); a reply in
another language than its prompt gains less than the same answer in the prompt's language (a French
continuation of an English opener gains +0.03 nats per token steered, -0.01 prompted, where the unsteered
English one gains +0.56, on the labelled set): part of what it measures is the language switch, which
AxBench's judge does not count; and a reply on the topic but refusing the task counts as relevant.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evals.metrics.likelihood import REFERENCE_MODEL, Surprise, surprises

CENTRE, WIDTH = 0.03, 0.12
"""Relevance = 1 / (1 + exp(-(gain - 0.03) / 0.12)), gain in nats per reply token: the fit to all 168 labelled
pairs (held-out folds: 0.02-0.05 and 0.10-0.14; benchmarks/relevance_labelled.py). 0.5 when the prompt makes
the reply 0.03 nats per token likelier, 0.9 at 0.29; unsteered replies gain 0.4-0.6, replies under another
prompt about -0.1."""


@dataclass(frozen=True)
class RelevanceReport:
    value: float
    gain: float
    """Mean NLL per reply token after nothing minus after the prompt (nats); NaN with no tokens."""
    nll_prompt: float
    nll_alone: float
    n_tokens: int
    reference: str

    def explanation(self) -> str:
        if self.n_tokens == 0:
            return "no tokens: the reply is empty"
        return (
            f"relevance {self.value:.2f}: the reply is {self.gain:+.2f} nats per token more likely after its prompt "
            f"({self.nll_prompt:.2f}) than after nothing ({self.nll_alone:.2f}) under {self.reference} "
            f"over {self.n_tokens} tokens; 0.5 at {CENTRE:+g}"
        )


def gain(with_prompt: Surprise, alone: Surprise) -> tuple[float, float, float]:
    """(gain, NLL after the prompt, NLL alone): means over the reply's tokens, NaN with none."""
    if not with_prompt.nll or len(with_prompt.nll) != len(alone.nll):
        return math.nan, math.nan, math.nan
    after, before = float(np.mean(with_prompt.nll)), float(np.mean(alone.nll))
    return before - after, after, before


def relevance_score(value: float, centre: float = CENTRE, width: float = WIDTH) -> float:
    if math.isnan(value):
        return 0.0
    return 1 / (1 + math.exp(min(50.0, -(value - centre) / width)))


def relevance_reports(
    texts: Sequence[str], prompts: Sequence[str | None], reference: str = REFERENCE_MODEL
) -> list[RelevanceReport]:
    """Each reply's relevance to its prompt: one batched pass after the prompts and one after nothing (the first
    is shared with ``fluency_offline``'s through the reference's cache)."""
    if any(not prompt for prompt in prompts):
        raise ValueError("relevance needs each reply's prompt: got an empty one")
    after = surprises(texts, prompts, reference)
    alone = surprises(texts, [None] * len(texts), reference)
    reports = []
    for a, b in zip(after, alone):
        value, nll_prompt, nll_alone = gain(a, b)
        reports.append(RelevanceReport(relevance_score(value), value, nll_prompt, nll_alone, len(a.ids), reference))
    return reports


def relevance_report(text: str, prompt: str, reference: str = REFERENCE_MODEL) -> RelevanceReport:
    return relevance_reports([text], [prompt], reference)[0]


def relevance(text: str, prompt: str, reference: str = REFERENCE_MODEL) -> float:
    """Offline relevance of ``text`` to ``prompt``, 0..1 (module docstring); an empty reply is 0."""
    return relevance_report(text, prompt, reference).value


async def relevance_async(text: str, prompt: str, reference: str = REFERENCE_MODEL) -> RelevanceReport:
    """``relevance_reports`` for a scorer: replies scored at the same time share batched passes."""
    from evals.metrics.batching import batched

    return await batched(relevance_reports, text, prompt, reference)


def fit_constants(gains: Sequence[float], matched: Sequence[bool]) -> tuple[float, float]:
    """(CENTRE, WIDTH) of the logistic that reads the labels best (cross-entropy, matched = 1)."""
    from scipy.optimize import minimize

    x, y = np.nan_to_num(np.asarray(gains, float), nan=-5.0), np.asarray(matched, float)

    def loss(theta: np.ndarray) -> float:
        p = np.clip(1 / (1 + np.exp(np.clip(-(x - theta[0]) / theta[1], -50, 50))), 1e-6, 1 - 1e-6)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    fit = minimize(loss, np.array([CENTRE, WIDTH]), method="L-BFGS-B", bounds=[(-2.0, 3.0), (0.02, 2.0)])
    return float(fit.x[0]), float(fit.x[1])


def held_out_relevance(gains: Sequence[float], matched: Sequence[bool], groups: Sequence[object]) -> tuple:
    """Each labelled pair's relevance with the constants fitted on the other folds (a reply's pairs share a fold),
    and the folds' constants."""
    from evals.metrics.calibration import held_out_scores

    return held_out_scores(
        np.asarray(gains, float)[:, None],
        matched,
        lambda x, y: fit_constants(x[:, 0], y),
        lambda x, c: np.array([relevance_score(g, *c) for g in x[:, 0]]),
        groups=groups,
    )


def labelled_pairs(rows: list[dict]) -> list[dict]:
    """The file's rows, then each real reply under another prompt of its source (the third prompt after its own
    in the source's sorted prompts): a mismatched pair of the same text."""
    prompts: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row["matched"] and row["prompt"] not in prompts[row["source"]]:
            prompts[row["source"]].append(row["prompt"])
    pairs = [{**row, "group": i} for i, row in enumerate(rows)]
    for i, row in enumerate(rows):
        if row["matched"]:
            ordered = sorted(prompts[row["source"]])
            other = ordered[(ordered.index(row["prompt"]) + 3) % len(ordered)]
            pairs.append({**row, "prompt": other, "matched": False, "kind": f"{row['kind']}, other prompt", "group": i})
    return pairs
