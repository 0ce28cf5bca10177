"""Offline reply metrics, plain functions of the text: no Inspect, no grader.

``words``: word lists and language ID (coherence, the share of a language's words); ``likelihood``: how
surprising a reply is to a small multilingual reference model; ``fluency_check``: the two combined into
the fluency score that real-word salad cannot fool; ``relevance``: whether a reply still answers its prompt.
Each is calibrated on a labelled set in ``tests/data``.
"""

from evals.metrics.fluency_check import FluencyReport, fluency, fluency_report, fluency_reports
from evals.metrics.likelihood import REFERENCE_MODEL, Surprise, surprises
from evals.metrics.relevance import RelevanceReport, relevance, relevance_report, relevance_reports
from evals.metrics.words import (
    LANGUAGE_NAMES,
    LANGUAGES,
    CoherenceReport,
    LanguageReport,
    check_language,
    coherence,
    coherence_report,
    distinct_ngram_share,
    french_fraction,
    french_report,
    is_french_word,
    is_language_word,
    is_word,
    language_fraction,
    language_report,
    sentence_language,
    sentences,
)

__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "REFERENCE_MODEL",
    "CoherenceReport",
    "FluencyReport",
    "LanguageReport",
    "RelevanceReport",
    "Surprise",
    "check_language",
    "coherence",
    "coherence_report",
    "distinct_ngram_share",
    "fluency",
    "fluency_report",
    "fluency_reports",
    "french_fraction",
    "french_report",
    "is_french_word",
    "is_language_word",
    "is_word",
    "language_fraction",
    "language_report",
    "relevance",
    "relevance_report",
    "relevance_reports",
    "sentence_language",
    "sentences",
    "surprises",
]
