"""The offline metrics earn their place on a labelled set: fluent replies pass, degenerate ones do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.analysis.stats import auc
from evals.metrics import (
    coherence,
    coherence_report,
    distinct_ngram_share,
    french_fraction,
    french_report,
    language_fraction,
)

LABELLED = [json.loads(line) for line in (Path(__file__).parent / "data" / "labelled_replies.jsonl").open()]
FLUENT = [r["text"] for r in LABELLED if r["label"] == "fluent"]
DEGENERATE = [r["text"] for r in LABELLED if r["label"] == "degenerate"]


def test_word_salad_of_real_words_is_what_coherence_cannot_see():
    # documented in README: grammar and sense are not measured; a shuffled list of real words passes
    assert coherence("of the the and to in of a the the and of to the in a and the of") > 0.85


def test_labelled_set_has_every_kind_of_reply():
    kinds = {(r["label"], r["language"], r["kind"]) for r in LABELLED}
    assert {("fluent", "en", "prose"), ("fluent", "fr", "prose"), ("degenerate", "fr", "loop")} <= kinds
    assert {k for _, _, k in kinds} >= {"loop", "invented", "half_gibberish", "cut", "list"}
    assert len(FLUENT) >= 12 and len(DEGENERATE) >= 12


def test_coherence_separates_fluent_from_degenerate_replies():
    fluent, degenerate = [coherence(t) for t in FLUENT], [coherence(t) for t in DEGENERATE]
    assert auc(fluent, degenerate) >= 0.9
    written = [coherence(r["text"]) for r in LABELLED if r["label"] == "fluent" and r["kind"] != "real_reply"]
    assert min(written) == 1.0  # fluent English, fluent French, lists and replies cut mid-sentence alike
    assert min(fluent) > 0.85
    assert sum(degenerate) / len(degenerate) < 0.3


def test_coherence_exact_values_on_real_degenerate_replies():
    # 23 words, 21 trigrams; only the three around "étoile" occur once: 3/21
    loop = "La merde étoile" + ", la merde" * 10
    report = coherence_report(loop)
    assert (report.n_words, report.real_word_share) == (23, 1.0)
    assert report.value == pytest.approx(3 / 21)
    # every word invented: no real words at all
    assert coherence("Launcherilleur\n\nLauncherilleur\n\nLauncherilleur") == 0.0
    # 2 real words of 8 (de, l): word score max(0, 1 - 3 * 6/8) = 0
    invented = coherence_report("hydrapéonéonéonéonéon cabreleté léonée Açaiba-de-L'Oleter fromagéonier")
    assert invented.real_word_share == pytest.approx(2 / 8) and invented.value == 0.0
    # 1 non-word of 20: word score 1 - 3/20
    salad = coherence_report(
        "Le Télé, une femme au roué être de lumière, était de route, le mon eturque de lumière, comme leur flop"
    )
    assert (salad.n_words, salad.non_words) == (20, ["eturque"])
    assert salad.value == pytest.approx(1 - 3 / 20)
    assert "cabreleté" in invented.non_words and "cabreleté" in invented.explanation()
    assert coherence("") == 0.0 and coherence("1234 !!!") == 0.0


def test_distinct_ngram_share():
    assert distinct_ngram_share("a b c d".split()) == 1.0
    assert distinct_ngram_share("a b a b a b".split()) == 0.0
    assert distinct_ngram_share("a b".split()) == 1.0


def test_french_fraction_counts_only_real_french_words_in_french_sentences():
    assert french_fraction("The weather is lovely today and we are going for a walk.") == 0.0
    assert french_fraction("Il fait très beau aujourd'hui et nous allons nous promener.") == 1.0
    # 3 French words out of 15
    assert french_fraction("Il fait beau. The weather is lovely today and we are going for a walk.") == pytest.approx(
        3 / 15
    )
    assert french_fraction("") == 0.0 and french_fraction("1234 !!!") == 0.0


def test_invented_french_looking_words_are_not_french():
    assert french_fraction("hydrapéonéonéonéonéon cabreleté léonée fromagéonier") == 0.0
    report = french_report("Le cabreleté de la léonée est un fromagéonier de l'étrandole.")
    # le, de, la, est, un, de, l are French; cabreleté, léonée, fromagéonier, étrandole are not
    assert report.value == pytest.approx(7 / 11)
    assert report.language_sentences and "French sentences" in report.explanation()


def test_english_words_inside_a_french_sentence_are_not_french():
    value = french_fraction("Le petit déjeuner is very important parce que the énergie pour the journée.")
    assert value < 0.75  # is, very, the, the do not count
    assert french_fraction("Le petit déjeuner est très important parce que l'énergie compte.") == 1.0


def test_french_separates_fluent_french_from_english_and_from_gibberish():
    french = [french_fraction(r["text"]) for r in LABELLED if r["label"] == "fluent" and r["language"] == "fr"]
    english = [french_fraction(r["text"]) for r in LABELLED if r["language"] == "en"]
    assert min(french) == 1.0 and max(english) == 0.0
    # behaviour x coherence: fluent French beats every degenerate French reply
    combined = {r["text"]: french_fraction(r["text"]) * coherence(r["text"]) for r in LABELLED}
    worst_fluent_french = min(combined[t] for t in FLUENT if french_fraction(t) > 0)
    assert all(combined[t] < worst_fluent_french for t in DEGENERATE)


LANGUAGE_CASES = [
    # (text, language, label): fluent passages of the language score high; other languages, word salad low
    ("Hoy hace muy buen tiempo y vamos a dar un paseo por el parque con mis amigos.", "es", "fluent"),
    ("Me gustaría una taza de café, por favor. El restaurante sirve comida deliciosa.", "es", "fluent"),
    ("Das Wetter ist heute wunderschön und wir gehen mit unseren Freunden im Park spazieren.", "de", "fluent"),
    ("Ich hätte gern eine Tasse Kaffee, bitte. Das Restaurant serviert köstliches Essen.", "de", "fluent"),
    ("Il fait très beau aujourd'hui et nous allons nous promener dans le parc.", "es", "other language"),
    ("Il fait très beau aujourd'hui et nous allons nous promener dans le parc.", "de", "other language"),
    ("The weather is lovely today and we are going for a walk in the park.", "es", "other language"),
    ("The weather is lovely today and we are going for a walk in the park.", "de", "other language"),
    ("Hoy hace muy buen tiempo y vamos a dar un paseo por el parque.", "de", "other language"),
    ("Los prentados gurmelos de la trastiflera son espantuladores del morquillo.", "es", "invented"),
    ("Die Gramselwurst der Pfrundlinger ist eine Schnobbelei des Kratzmauls.", "de", "invented"),
]


@pytest.mark.parametrize(("text", "language", "label"), LANGUAGE_CASES)
def test_language_share_separates_fluent_text_from_other_languages_and_invented_words(text, language, label):
    value = language_fraction(text, language)
    if label == "fluent":
        assert value >= 0.9
    elif label == "other language":
        assert value == 0.0
    else:  # the function words are real, the invented ones are not: at most about half counts
        assert value <= 0.6


def test_an_unmeasurable_language_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"language 'ja' cannot be measured offline: use one of \['en', 'fr'"):
        language_fraction("こんにちは", "ja")
    assert french_fraction("Il fait beau.") == language_fraction("Il fait beau.", "fr")
