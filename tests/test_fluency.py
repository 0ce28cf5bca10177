"""Offline fluency earns its place on labelled replies: fluent text in five languages passes, real-word
salad from our own steered runs, loops and invented words do not (Gemma 3 270M as the reference)."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from functools import cache
from pathlib import Path

import pytest

from evals.analysis.stats import auc
from evals.metrics import coherence, fluency, fluency_report, fluency_reports, surprises
from evals.metrics.fluency_check import CENTRE, complete_words, first_use_nll, fluency_async
from evals.metrics.likelihood import Surprise, context

DATA = Path(__file__).parent / "data"
FILES = ("fluency_labelled.jsonl", "labelled_replies.jsonl")
# fluent passages in five languages and real salad (tests/data/fluency_labelled.jsonl), plus the loops,
# invented words, half-gibberish and fluent English/French replies coherence was calibrated on
LABELLED = [json.loads(line) for name in FILES for line in (DATA / name).open()]
FIVE = ("en", "fr", "es", "de", "it")
RUNS = ("gemma-3-270m", "smollm2-135m-instruct")

pytestmark = pytest.mark.slow


@cache
def reports() -> tuple:
    return tuple(fluency_reports([r["text"] for r in LABELLED], [r.get("prompt") for r in LABELLED]))


def scores() -> tuple[float, ...]:
    return tuple(report.value for report in reports())


def of(label: str, kind: str | None = None, language: str | None = None) -> list[float]:
    return [
        s
        for r, s in zip(LABELLED, scores())
        if r["label"] == label and kind in (None, r["kind"]) and language in (None, r["language"])
    ]


def test_labelled_set_covers_languages_kinds_and_both_models():
    fluent = [r for r in LABELLED if r["label"] == "fluent"]
    salad = [r for r in LABELLED if r["kind"] == "real_word_salad" and r.get("source", "").startswith(RUNS)]
    assert len(fluent) >= 30 and {r["language"] for r in fluent} >= set(FIVE)
    assert {r["kind"] for r in fluent} >= {"prose", "list", "poem", "cut", "continuation"}
    assert len(salad) >= 30
    assert {r["source"].split()[0] for r in salad} == set(RUNS)
    assert len({r["source"].split()[2] for r in salad}) >= 4  # several alphas
    assert {r["kind"] for r in LABELLED if r["label"] == "degenerate"} >= {"loop", "invented", "real_word_salad"}


def test_fluency_separates_fluent_from_degenerate_replies():
    fluent, degenerate = of("fluent"), of("degenerate")
    assert auc(fluent, degenerate) >= 0.95
    assert sum(fluent) / len(fluent) >= 0.8
    salad = of("degenerate", "real_word_salad")
    assert sum(salad) / len(salad) <= 0.35
    for kind in ("loop", "invented", "half_gibberish"):
        assert max(of("degenerate", kind)) < 0.3, kind


def test_fluency_separates_as_well_on_replies_its_constants_were_not_fitted_on():
    from evals.metrics.fluency_check import held_out_fluency

    fluent = [r["label"] == "fluent" for r in LABELLED]
    held_out, constants = held_out_fluency([r.coherence.value for r in reports()], [r.nll for r in reports()], fluent)
    good = [s for s, f in zip(held_out, fluent) if f]
    bad = [s for s, f in zip(held_out, fluent) if not f]
    salad = [s for s, r in zip(held_out, LABELLED) if r["kind"] == "real_word_salad"]
    assert auc(good, bad) >= 0.95  # 0.990 held out, 0.992 in sample (benchmarks/fluency_labelled.py)
    assert sum(good) / len(good) >= 0.8 and sum(salad) / len(salad) <= 0.35
    assert len(constants) == 5 and all(4.0 < centre < 5.5 for centre, _ in constants)


@pytest.mark.parametrize("language", FIVE)
def test_every_language_reads_as_fluent(language):
    values = of("fluent", language=language)
    assert len(values) >= 5 and sum(values) / len(values) >= 0.75


def test_salad_coherence_cannot_see_scores_low():
    # the replies the issue quoted: coherence 0.88-1.00, all real words, no grammar
    salad = [r for r in LABELLED if r["kind"] == "real_word_salad"]
    coherent = [(r, s) for r, s in zip(LABELLED, scores()) if r in salad and coherence(r["text"]) >= 0.85]
    assert len(coherent) >= 10
    assert sum(s for _, s in coherent) / len(coherent) < 0.35


def test_a_reply_cut_at_the_token_limit_is_not_penalised():
    whole = "La photosynthèse permet aux plantes de fabriquer leur nourriture à partir de la lumière du soleil."
    cut = "La photosynthèse permet aux plantes de fabriquer leur nourriture à partir de la lumi"
    assert complete_words(cut).endswith("de la ") and complete_words(whole) == whole
    assert fluency_report(cut).coherence.value == 1.0
    assert fluency(cut) >= 0.9 and fluency(whole) >= 0.9


def test_a_reply_is_read_after_its_prompt():
    assert context("I think", " that it will rain.") == "I think"
    assert context("Write a poem about the sea.", "The sea is wide.") == "Write a poem about the sea.\n\n"
    reply = " that the best time to visit a city is early in the morning, before the shops open."
    alone, after = surprises([reply, reply], [None, "I think"])
    assert alone.ids == after.ids and len(alone.nll) == len(after.nll) == 19  # 17 words, a comma, a full stop
    # the prompt makes the reply's opening likelier: " that" after "I think" is no surprise
    assert after.nll[0] < alone.nll[0] - 2


def test_first_use_nll_ignores_copied_tokens_and_the_first_two():
    surprise = Surprise(ids=(1, 2, 3, 4, 3, 4, 5), nll=(9.0, 9.0, 2.0, 4.0, 0.1, 0.1, 6.0))
    assert first_use_nll(surprise) == (pytest.approx((2.0 + 4.0 + 6.0) / 3), 3)
    assert first_use_nll(Surprise(ids=(7,), nll=(3.0,))) == (3.0, 1)
    assert math.isnan(first_use_nll(Surprise((), ()))[0])


def test_empty_reply_scores_zero_with_a_reason():
    report = fluency_report("")
    assert report.value == 0.0 and report.n_tokens == 0 and "no words" in report.explanation()


def test_explanation_names_each_part():
    salad = "Laissez-vous pas, tout liqueur est être attiré à la beauty et to be découvert de la nature."
    report = fluency_report(salad)
    text = report.explanation()
    assert f"{report.value:.2f}" in text and "likelihood" in text and "gemma-3-270m" in text and "nats" in text
    assert report.value < 0.35 and report.coherence.value > 0.8
    assert report.nll > CENTRE


def test_batched_scores_equal_one_at_a_time():
    texts = [r["text"] for r in LABELLED[:6]]
    prompts = [r.get("prompt") for r in LABELLED[:6]]
    batched = fluency_reports(texts, prompts)
    single = [fluency_report(t, p) for t, p in zip(texts, prompts)]
    for a, b in zip(batched, single):
        assert a.nll == pytest.approx(b.nll, abs=0.05) and a.value == pytest.approx(b.value, abs=0.02)


def test_concurrent_scorers_share_a_pass_and_a_cancelled_one_is_skipped():
    texts = [r["text"] for r in LABELLED[:8]]

    async def run() -> list:
        tasks = [asyncio.create_task(fluency_async(t)) for t in texts]
        await asyncio.sleep(0)
        tasks[3].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(run())
    assert isinstance(results[3], asyncio.CancelledError)
    expected = fluency_reports([t for i, t in enumerate(texts) if i != 3])
    got = [r for i, r in enumerate(results) if i != 3]
    assert [round(r.value, 2) for r in got] == [round(r.value, 2) for r in expected]


def test_a_reply_asked_twice_at_once_is_read_once(monkeypatch):
    # a suite's concepts share their unsteered reply at alpha 0: ten scorers of one reply, one forward row
    from evals.metrics import likelihood

    monkeypatch.setattr(likelihood, "_CACHE", likelihood._Recent())
    rows: list[int] = []
    real = likelihood._score_batch
    monkeypatch.setattr(
        likelihood, "_score_batch", lambda m, t, batch, *rest: (rows.append(len(batch)), real(m, t, batch, *rest))
    )
    text = "Le soleil brille sur la mer, et les enfants jouent sur la plage."
    got = surprises([text, "Un autre texte.", text, text], ["Hier,", None, "Hier,", None])
    assert sum(rows) == 3
    assert got[0] == got[2] and got[0].nll and got[3].ids == got[0].ids and got[3] != got[0]


def test_mismatched_prompts_are_an_error():
    with pytest.raises(ValueError, match="2 replies but 1 prompts"):
        surprises(["a", "b"], ["x"])


def test_the_reference_waits_for_a_pass_on_the_same_weights():
    # a steered provider of the same model, device and dtype shares these weights and holds this lock while
    # its hooks are installed; the reference must never run a forward pass inside that window
    from evals.metrics.likelihood import load_reference
    from steering.models import model_lock

    model, _ = load_reference()
    done = threading.Event()
    with model_lock(model):
        worker = threading.Thread(target=lambda: (surprises(["Bonjour tout le monde."]), done.set()))
        worker.start()
        assert not done.wait(1.0)
    assert done.wait(60)
    worker.join()
