"""The vocabulary of the analysis: which columns group samples, which scorers exist and what they mean."""

from __future__ import annotations

import numpy as np

from evals.dataset import PROMPTING  # noqa: F401  (the prompting reference's method and vector, named once)

GENERATION = ["temperature", "top_p", "seed", "max_tokens"]

SETTINGS = [*GENERATION, "grader", "judge_template", "scorers"]
"""Generation and judging settings read from every log; runs that differ in one are kept apart."""

GROUP = ["task", "concept", "model", "sae", "layer", "positions", "feature", "vector", "settings"]
"""Samples that differ in any of these are never averaged together (``settings`` names the differing ones)."""

REFERENCE = ["task", "concept", "model", "layer", "positions", "settings"]
"""What a steering curve shares with its prompting reference (which has no SAE, feature or vector)."""


SCORERS = {
    "combined": "SAE-TS combined score ((b-1)/9)·((f-1)/9) from the judges (0-1)",
    "combined_offline": "offline: french_share (or language_share) x fluency_offline (0-1)",
    "axbench": "AxBench's score from its three 0-2 judges: mean of their per-reply harmonic mean, / 2 (0-1)",
    "axbench_offline": "offline AxBench: mean per-reply harmonic mean of language share, fluency_offline and "
    "relevance_offline (0-1)",
    "behavior": "judge grade for the behaviour (1-10)",
    "fluency": "judge grade for fluency (1-10)",
    "french_share": "share of words that are real French words in French sentences (0-1)",
    "language_share": "share of words that are real words of the concept's language in its sentences (0-1)",
    "fluency_offline": "coherence x reference-model likelihood (0-1)",
    "relevance_offline": "reply likelier after its own prompt than after nothing, calibrated (0-1)",
    "axbench_concept": "AxBench judge: concept relevance (0-2)",
    "axbench_instruction": "AxBench judge: instruction relevance (0-2)",
    "axbench_fluency": "AxBench judge: fluency (0-2)",
    "axbench_harmonic": "AxBench judge: harmonic mean of its three ratings, 0 if any is 0 or unreadable (0-2)",
    "coherence": "word score x distinct-trigram share (0-1)",
    "unsteered_logprob": "mean log-prob of reply under unsteered model (nats/token; likelihood, not fluency)",
    "paper_judge_behavior": "SAE-TS paper's judge: behaviour grade, (g-1)/9 (0-1)",
    "paper_judge_coherence": "SAE-TS paper's judge: coherence grade, (g-1)/9 (0-1)",
}

KEYED = {"judges": ("behavior", "fluency")}
"""Scorers with a value per key whose keys are score columns of their own (the sweep's two judges, one scorer);
any other keyed scorer gives ``<scorer>_<key>`` columns."""

COMBINED = {
    "combined": [("behavior", "fluency")],
    "axbench": [("axbench_concept", "axbench_instruction", "axbench_fluency")],
    "combined_offline": [("french_share", "fluency_offline"), ("language_share", "fluency_offline")],
    "axbench_offline": [
        ("french_share", "fluency_offline", "relevance_offline"),
        ("language_share", "fluency_offline", "relevance_offline"),
    ],
}
"""The scores an alpha is picked by, in order of preference (the first a run has, unless one is asked for), each
made of the first tuple of scorers a table has: behaviour x fluency (the judges' grades normalised (s-1)/9, as
SAE-TS, or their deterministic counterparts), or AxBench's per-reply harmonic mean of three parts."""

HARMONIC = {"axbench", "axbench_offline"}
"""Combined scores that are a mean over replies of the parts' harmonic mean (0 when a part is 0 or missing),
as AxBench scores; the others are SAE-TS's product of the two parts' means."""


def harmonic_means(values: np.ndarray) -> np.ndarray:
    """Per row (reply), AxBench's harmonic mean of its parts: 0 when any is 0 or missing (NaN), as AxBench counts
    an unparseable rating; the ``axbench`` scorer's per-reply value and the tables' ``HARMONIC`` scores."""
    values = np.asarray(values, float)
    bad = np.isnan(values).any(axis=1) | (values <= 0).any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = values.shape[1] / (1 / values).sum(axis=1)
    return np.where(bad, 0.0, means)


AXBENCH_SCALE = 2
"""AxBench's ratings run 0-2; the analysis reads them divided by this, on 0-1 like every other score."""

AUDIT = [
    ("behavior", "french_share"),
    ("behavior", "language_share"),
    ("fluency", "fluency_offline"),
    ("fluency", "coherence"),
    ("axbench_concept", "language_share"),
    ("axbench_concept", "french_share"),
    ("axbench_instruction", "relevance_offline"),
    ("axbench_fluency", "fluency_offline"),
]
"""Judge scorers and the deterministic scorers that check them."""

AGREEMENT_WARNING = 0.5

BOOTSTRAP = 1000


class CurvesError(ValueError):
    pass
