"""Word-list reply metrics: plain functions of the text, no Inspect, no model.

They stand beside the LLM judges as cross-checks that a loop or a string of invented
words cannot pass. Calibrated on ``tests/data/labelled_replies.jsonl`` (fluent English and
French, loops, invented words, half-gibberish); README quotes the separation they reach.

What they do not measure: grammar and sense (a shuffled list of real words passes
``coherence``), relevance to the prompt, and languages outside ``LANGUAGES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "sv", "pl", "tr", "id")
"""Languages a sentence can be identified as (each in lingua, wordfreq and Gemma 3's training): neighbours of
French, so Spanish drift is not French, and the concept suite's ten languages."""
NGRAM = 3
"""Repetition is measured on word trigrams: fluent prose almost never repeats one, loops always do."""
MIN_ZIPF = 1.0
"""A word is real when wordfreq's list for the sentence's language has it (Zipf >= 1, its floor)."""
NON_WORD_COST = 3.0
"""Each invented word costs three times its share: fluent replies have almost none (a name or two), while
steered word salad runs at 10-30%, so a reply with a third of its words invented scores 0."""
ENGLISH_MARGIN = 1.0
"""French web text is full of English: a word 10x (1 Zipf) more frequent in English is not counted as French."""

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@cache
def _detector() -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LANGUAGES]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def sentence_language(sentence: str) -> str | None:
    """ISO 639-1 code of the sentence's language among ``LANGUAGES`` (None when lingua cannot tell)."""
    language = _detector().detect_language_of(sentence)
    return None if language is None else language.iso_code_639_1.name.lower()


def _words(text: str, language: str) -> list[str]:
    from wordfreq import tokenize

    # tokens without a letter (numbers, list markers, emoji) are not words
    return [token for token in tokenize(text, language) if any(ch.isalpha() for ch in token)]


def is_word(token: str, language: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(token, language) >= MIN_ZIPF


def is_language_word(token: str, language: str) -> bool:
    """A real word of ``language`` that is not 10x more frequent in English (English web text leaks everywhere)."""
    from wordfreq import zipf_frequency

    frequency = zipf_frequency(token, language)
    return frequency >= MIN_ZIPF and (language == "en" or frequency + ENGLISH_MARGIN >= zipf_frequency(token, "en"))


def is_french_word(token: str) -> bool:
    return is_language_word(token, "fr")


@dataclass(frozen=True)
class Sentence:
    text: str
    language: str | None
    words: tuple[str, ...]
    non_words: tuple[str, ...]


def sentences(text: str) -> list[Sentence]:
    """The reply's sentences with their language and the words that language's list lacks."""
    out = []
    for part in _SENTENCE.findall(text):
        if not any(ch.isalpha() for ch in part):
            continue
        language = sentence_language(part)
        words = tuple(_words(part, language or "en"))
        if not words:
            continue
        # a sentence lingua cannot place is checked against English, the prompts' language
        non_words = tuple(w for w in words if not is_word(w, language or "en"))
        out.append(Sentence(part.strip(), language, words, non_words))
    return out


def distinct_ngram_share(words: list[str], n: int = NGRAM) -> float:
    """Share of the word n-grams that occur once (1.0 for texts shorter than n words)."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 1.0
    counts: dict[tuple[str, ...], int] = {}
    for gram in grams:
        counts[gram] = counts.get(gram, 0) + 1
    return sum(1 for gram in grams if counts[gram] == 1) / len(grams)


@dataclass(frozen=True)
class CoherenceReport:
    value: float
    n_words: int
    real_word_share: float
    distinct_share: float
    word_score: float = 0.0
    non_words: list[str] = field(default_factory=list)

    def explanation(self) -> str:
        if self.n_words == 0:
            return "no words: the reply is empty or has no letters"
        shown = ", ".join(dict.fromkeys(self.non_words[:12])) or "none"
        return (
            f"coherence {self.value:.2f} = word score {self.word_score:.2f} (real-word share "
            f"{self.real_word_share:.2f}, each non-word costing {NON_WORD_COST:g}x) "
            f"x distinct {NGRAM}-gram share {self.distinct_share:.2f} ({self.n_words} words); "
            f"not in the word list of their sentence's language: {shown}"
        )


def coherence_report(text: str) -> CoherenceReport:
    parts = sentences(text)
    words = [w for s in parts for w in s.words]
    if not words:
        return CoherenceReport(0.0, 0, 0.0, 0.0)
    non_words = [w for s in parts for w in s.non_words]
    real = 1 - len(non_words) / len(words)
    word_score = max(0.0, 1 - NON_WORD_COST * (1 - real))
    distinct = distinct_ngram_share(words)
    return CoherenceReport(
        value=word_score * distinct,
        n_words=len(words),
        real_word_share=real,
        distinct_share=distinct,
        word_score=word_score,
        non_words=non_words,
    )


def coherence(text: str) -> float:
    """Offline fluency, 0..1: a real-word score x the share of word trigrams that are not repeats.

    A loop (``la merde, la merde, ...``) fails the second factor, invented words
    (``hydrapéonéonéon``) the first: the word score is ``1 - 3 x`` the share of words in no
    word list of their sentence's language, floored at 0. An empty reply is 0.
    """
    return coherence_report(text).value


LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "sv": "Swedish", "pl": "Polish", "tr": "Turkish", "id": "Indonesian",
}  # fmt: skip


@dataclass(frozen=True)
class LanguageReport:
    value: float
    n_words: int
    language_sentences: list[str]
    other_sentences: list[str]
    language: str = "fr"

    def explanation(self) -> str:
        if self.n_words == 0:
            return "no words: the reply is empty or has no letters"
        name = LANGUAGE_NAMES[self.language]
        shown = " | ".join(self.language_sentences[:6]) or "none"
        return (
            f"{self.value:.2f} of {self.n_words} words are real {name} words in {name} sentences; "
            f"{name} sentences: {shown}; other sentences: {len(self.other_sentences)}"
        )


def check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} cannot be measured offline: use one of {list(LANGUAGES)}")


def language_report(text: str, language: str) -> LanguageReport:
    check_language(language)
    parts = sentences(text)
    n_words = sum(len(s.words) for s in parts)
    inside = [s for s in parts if s.language == language]
    real = sum(is_language_word(w, language) for s in inside for w in s.words)
    return LanguageReport(
        real / n_words if n_words else 0.0,
        n_words,
        [s.text for s in inside],
        [s.text for s in parts if s.language != language],
        language,
    )


def french_report(text: str) -> LanguageReport:
    return language_report(text, "fr")


def language_fraction(text: str, language: str) -> float:
    """Share of the reply's words that are real words of ``language`` in sentences identified as it, 0..1."""
    return language_report(text, language).value


def french_fraction(text: str) -> float:
    """Share of the reply's words that are real French words in sentences identified as French, 0..1.

    Invented French-looking words (``cabreleté``) are in no French word list and do not count;
    nor do English words inside a French sentence (``is``, ``the``).
    """
    return french_report(text).value
