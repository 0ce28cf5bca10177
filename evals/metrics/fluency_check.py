"""Offline fluency, 0..1: coherence's word checks x how likely the reply is under a reference model.

Each part catches what the other cannot. Coherence catches loops (very likely text) and invented words;
the reference model catches real-word salad (``Laissez-vous pas, tout liqueur est être attiré à la beauty``),
whose words are all in the lists. Calibrated on ``tests/data/fluency_labelled.jsonl``: fluent passages in
five languages (lists, poems, replies cut mid-sentence, continuations of a prompt) against real salad,
loops and invented words from this project's own steered runs; README quotes what it reaches.

What it does not measure: sense (a fluent reply off the topic passes), relevance to the prompt, text in
languages the reference model knows badly, and soup of very frequent words (``of the the and to in``),
which is both likely and free of repeated trigrams.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evals.metrics.batching import batched
from evals.metrics.likelihood import REFERENCE_MODEL, Surprise, surprises
from evals.metrics.words import CoherenceReport, coherence_report

CENTRE, WIDTH = 4.8, 0.3
"""Likelihood score = 1 / (1 + exp((nll - 4.8) / 0.3)): the labelled fluent passages in five languages read at
1.2-4.8 nats per first-used token under Gemma 3 270M (the German poem, the least likely, scores 0.47), the
labelled salad at 3.3-8.1 (tests/data/fluency_labelled.jsonl); 0.5 at 4.8 nats, 0.05 at 5.7."""
SKIP_FIRST = 2
"""A reply's first tokens are left out: whatever precedes them (nothing, or a prompt in another language)
cannot predict them, and a short fluent reply would pay for them as much as salad."""

_PARTIAL_WORD = re.compile(r"\w+$")


@dataclass(frozen=True)
class FluencyReport:
    value: float
    coherence: CoherenceReport
    likelihood: float
    nll: float
    """Mean NLL (nats) of the reply's first-used tokens under the reference model; NaN with no tokens."""
    n_tokens: int
    n_scored: int
    reference: str

    def explanation(self) -> str:
        if self.n_tokens == 0 or self.coherence.n_words == 0:
            return "no words: the reply is empty or has no letters"
        c = self.coherence
        return (
            f"fluency {self.value:.2f} = coherence {c.value:.2f} (word score {c.word_score:.2f} x distinct "
            f"trigrams {c.distinct_share:.2f}) x likelihood {self.likelihood:.2f} ({self.reference}: "
            f"{self.nll:.2f} nats per token over {self.n_scored} first-used of {self.n_tokens} tokens; "
            f"0.5 at {CENTRE:g}; labelled fluent text reads at 1.2-4.8)"
        )


def first_use_nll(surprise: Surprise) -> tuple[float, int]:
    """Mean NLL of the tokens at their first use in the reply, after the first ``SKIP_FIRST``.

    A token the reply already used is predicted by copying it (a language model's induction), which salad
    repeating its own fragments exploits: ``-à-peu-vez-à-vez-d-este-not à-peu-vez`` reads at 3.7 nats per
    token over all tokens and 8.1 over its 15 first uses; fluent text repeats mostly function words it
    predicts anyway.
    """
    seen: set[int] = set()
    values = []
    for position, (token, nll) in enumerate(zip(surprise.ids, surprise.nll)):
        if position >= SKIP_FIRST and token not in seen:
            values.append(nll)
        seen.add(token)
    if not values:  # a reply of one or two tokens: all of them
        values = list(surprise.nll)
    return (sum(values) / len(values) if values else math.nan), len(values)


def likelihood_score(nll: float, centre: float = CENTRE, width: float = WIDTH) -> float:
    if math.isnan(nll):
        return 0.0
    return 1 / (1 + math.exp(min(50.0, (nll - centre) / width)))


def fit_constants(coherence: Sequence[float], nll: Sequence[float], fluent: Sequence[bool]) -> tuple[float, float]:
    """(CENTRE, WIDTH) that make ``coherence x likelihood`` the most likely reading of the labels (cross-entropy,
    fluent = 1): how the shipped constants are checked on held-out folds (benchmarks/fluency_labelled.py)."""
    from scipy.optimize import minimize

    c, x, y = np.asarray(coherence, float), np.asarray(nll, float), np.asarray(fluent, float)
    x = np.where(np.isnan(x), 50.0, x)  # no tokens: likelihood 0, as likelihood_score gives

    def loss(theta: np.ndarray) -> float:
        p = c / (1 + np.exp(np.clip((x - theta[0]) / theta[1], -50, 50)))
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    fit = minimize(loss, np.array([CENTRE, WIDTH]), method="L-BFGS-B", bounds=[(1.0, 10.0), (0.05, 3.0)])
    return float(fit.x[0]), float(fit.x[1])


def held_out_fluency(coherence: Sequence[float], nll: Sequence[float], fluent: Sequence[bool]) -> tuple:
    """Each labelled reply's fluency with (CENTRE, WIDTH) fitted on the other folds, and the folds' constants."""
    from evals.metrics.calibration import held_out_scores

    return held_out_scores(
        np.column_stack([coherence, nll]),
        fluent,
        lambda x, y: fit_constants(x[:, 0], x[:, 1], y),
        lambda x, c: np.array([w * likelihood_score(n, *c) for w, n in x]),
    )


def complete_words(text: str) -> str:
    """The reply without a word cut off at the token limit (``... dans les enf``): not a non-word."""
    cut = _PARTIAL_WORD.sub("", text)
    return cut if any(ch.isalpha() for ch in cut) else text


def fluency_reports(
    texts: Sequence[str], prompts: Sequence[str | None] | None = None, reference: str = REFERENCE_MODEL
) -> list[FluencyReport]:
    """``fluency_report`` for many replies at once: one batched pass of the reference model."""
    measured = surprises(texts, prompts, reference)
    reports = []
    for text, surprise in zip(texts, measured):
        words = coherence_report(complete_words(text))
        nll, n_scored = first_use_nll(surprise)
        likely = likelihood_score(nll)
        reports.append(FluencyReport(words.value * likely, words, likely, nll, len(surprise.ids), n_scored, reference))
    return reports


def fluency_report(text: str, prompt: str | None = None, reference: str = REFERENCE_MODEL) -> FluencyReport:
    return fluency_reports([text], [prompt], reference)[0]


def fluency(text: str, prompt: str | None = None, reference: str = REFERENCE_MODEL) -> float:
    """Offline fluency, 0..1: coherence (real words x non-repeated trigrams) x a likelihood score.

    The likelihood score is a logistic of the reply's mean NLL per first-used token under ``reference``
    (Gemma 3 270M), read after ``prompt`` when one is given: a continuation of ``I think`` is judged as one.
    A word cut off at the end (a reply stopped at its token limit) costs nothing. An empty reply is 0.
    """
    return fluency_report(text, prompt, reference).value


async def fluency_async(text: str, prompt: str | None = None, reference: str = REFERENCE_MODEL) -> FluencyReport:
    """``fluency_report`` for a scorer: replies scored at the same time share one batched pass."""
    return await batched(fluency_reports, text, prompt, reference)
