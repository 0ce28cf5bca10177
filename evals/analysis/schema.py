"""The vocabulary of the analysis: which columns group samples, which scorers exist and what they mean."""

from __future__ import annotations

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
    "behavior": "judge grade for the behaviour (1-10)",
    "fluency": "judge grade for fluency (1-10)",
    "french_share": "share of words that are real French words in French sentences (0-1)",
    "language_share": "share of words that are real words of the concept's language in its sentences (0-1)",
    "fluency_offline": "coherence x reference-model likelihood (0-1)",
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
    "combined_offline": [("french_share", "fluency_offline"), ("language_share", "fluency_offline")],
}
"""Behaviour x fluency: the judges' grades (normalised (s-1)/9, as SAE-TS) or their deterministic counterparts
(the first pair a table has)."""

AUDIT = [
    ("behavior", "french_share"),
    ("behavior", "language_share"),
    ("fluency", "fluency_offline"),
    ("fluency", "coherence"),
]
"""Judge scorers and the deterministic scorers that check them."""

AGREEMENT_WARNING = 0.5

BOOTSTRAP = 1000


class CurvesError(ValueError):
    pass
