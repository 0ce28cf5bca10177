"""The concept suite: concept files checked before anything loads, every concept swept beside its prompting
reference, per-sample contrast sets, and the leaderboard built from real logs of the tiny model."""

from __future__ import annotations

import json
import weakref

import pytest
import torch
from inspect_ai import eval as inspect_eval

from evals.concepts import load_concepts
from evals.curves import write_outputs
from evals.metrics import language_fraction
from evals.suite import suite
from steering.directions import diff_of_means
from steering.sources import load_contrast
from steering.sources.resolver import DirectionResolver
from steering.spec import SteeringSpec

FRENCH = {
    "name": "french",
    "criterion": "The text contains French words and French language.",
    "instruction": "Answer in French.",
    "language": "fr",
    "directions": [{"vector": "sae", "feature": 5}, {"vector": "diff_of_means", "contrast": "french_english"}],
}
SPANISH = {
    "name": "spanish",
    "criterion": "The text contains Spanish words and Spanish language.",
    "instruction": "Answer in Spanish.",
    "language": "es",
    "directions": [{"vector": "diff_of_means", "contrast": "spanish_english"}],
}


def _write(path, *concepts):
    path.write_text("\n".join(json.dumps(c) for c in concepts) + "\n")
    return str(path)


def test_the_shipped_concept_files_are_valid():
    offline = load_concepts("offline")
    assert [c.name for c in offline] == ["french", "spanish", "german"]
    assert all(c.language and c.instruction for c in offline)
    languages = load_concepts("languages")
    assert len(languages) == 10 and len({c.language for c in languages}) == 10
    for concept in languages:  # each cue: two translated pairs from its own contrast set, then the prompt
        positive, negative = load_contrast(concept.directions[0].contrast)
        assert concept.instruction.count("{prompt}") == 1 and positive[13] in concept.instruction
        assert len(positive) == len(negative) >= 24
        assert language_fraction(" ".join(positive), concept.language) > 0.9
        assert language_fraction(" ".join(negative), concept.language) < 0.05
    gemma = {c.name: c for c in load_concepts("gemma")}
    assert [d.label for d in gemma["french"].directions] == [
        "sae-12332",
        "sae_ts-12332",
        "diff_of_means-french_english",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, r"line 2 \(concept 'bad'\): unknown keys \['colour'\]; valid keys are"),
        ({"directions": [{"vector": "sae", "feature": 300}]}, r"feature 300 is out of range for a 256-feature SAE"),
        ({"directions": [{"vector": "diff_of_means", "contrast": "klingon"}]}, r"contrast set 'klingon' not found"),
        ({"directions": [{"vector": "diff_of_means"}]}, r"'diff_of_means' needs a 'contrast'"),
        ({"directions": [{"vector": "missing.safetensors"}]}, r"direction vector file 'missing.safetensors' does not"),
        ({"directions": [{"vector": "sae", "feature": 1, "weight": 2}]}, r"unknown direction keys \['weight'\]"),
        ({"directions": []}, r"'directions' must be a non-empty list"),
        ({"language": "xx"}, r"language 'xx' cannot be measured offline"),
        ({"name": "French!"}, r"concept name must be lower-case"),
        ({"criterion": ""}, r"'criterion' must be the judge's criterion sentence"),
    ],
)
def test_bad_concepts_are_named_with_their_line_and_what_is_valid(tmp_path, change, message):
    path = _write(tmp_path / "c.jsonl", SPANISH, {**FRENCH, "name": "bad", **change})
    with pytest.raises(ValueError, match=message):
        load_concepts(path, sae_width=256)
    with pytest.raises(ValueError, match=message):
        suite(concepts=path, sae_width=256)  # the task checks before any model loads


def test_a_concept_named_twice_or_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="concept name 'spanish' is used twice"):
        load_concepts(_write(tmp_path / "c.jsonl", SPANISH, SPANISH))
    with pytest.raises(ValueError, match=r"concept file 'nope' not found: use a JSONL path or one of \['gemma'"):
        load_concepts("nope")


def test_each_sample_brings_its_own_contrast_set(tiny, tiny_sae_dir):
    model, tokenizer = tiny
    from steering.directions import SaeRef

    source = DirectionResolver(model, tokenizer, 2, SaeRef(str(tiny_sae_dir), release=None))
    french, spanish = source.resolve(
        [
            SteeringSpec(1.0, vector="diff_of_means", contrast="french_english"),
            SteeringSpec(1.0, vector="diff_of_means", contrast="spanish_english"),
        ]
    )
    expected = diff_of_means(model, tokenizer, 2, *load_contrast("spanish_english")).cpu()
    torch.testing.assert_close(spanish, expected)
    assert not torch.allclose(french, spanish)
    with pytest.raises(ValueError, match="steering contrast 'x' needs vector='diff_of_means', got"):
        SteeringSpec(1.0, feature=3, contrast="x")
    assert "contrast" not in SteeringSpec(1.0, feature=3).to_dict(), "older logs' specs and cache keys unchanged"


def test_the_suite_runs_every_concept_and_ranks_steering_against_prompting(tiny_model_dir, tiny_sae_dir, tmp_path):
    concepts = _write(tmp_path / "concepts.jsonl", FRENCH, SPANISH)
    task = suite(
        concepts=concepts, alphas=[0.0, 4.0], methods="add", n_prompts=4, judge=False, max_tokens=8, sae_width=256
    )
    # french: 2 directions x 2 alphas x 4 prompts + 4 prompting; spanish: 1 x 2 x 4 + 4
    assert len(task.dataset) == 20 + 12
    (log,) = inspect_eval(
        task,
        model=f"steered/{tiny_model_dir}",
        model_args={"sae": str(tiny_sae_dir), "layer": 2},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert log.status == "success"
    for sample in log.samples:
        meta = sample.metadata
        (call,) = [e for e in sample.events if e.event == "model"]
        if meta["method"] == "prompting":
            assert call.config.extra_body is None and call.input[-1].text.endswith(f"\n\n{meta['instruction']}")
        elif meta["vector"] == "diff_of_means":
            expected = {"french": "french_english", "spanish": "spanish_english"}[meta["concept"]]
            assert call.call.request["steering"]["contrast"] == expected
        expected_share = language_fraction(sample.output.completion, meta["language"])
        assert sample.scores["language_share"].value == pytest.approx(expected_share)
        assert "unsteered_logprob" in sample.scores  # the tiny model is not the fluency check's reference
    result = write_outputs([tmp_path / "logs"], tmp_path / "curves")
    board = result["leaderboard"]
    assert {(r.concept, r.source) for r in board.itertuples()} == {
        ("french", "SAE feature 5"),
        ("french", "difference of means"),
        ("french", "prompting"),
        ("spanish", "difference of means"),
        ("spanish", "prompting"),
    }
    assert set(board.n) == {2} and set(board.objective) == {"combined_offline"}
    for _, rows in board.groupby("concept"):
        assert list(rows.score) == sorted(rows.score, reverse=True)
    assert "spanish: the best steering source" in result["leaderboard_md"]
    # curves facet by concept: one overview per concept and direction
    overviews = sorted(p.path.name for p in result["plots"] if p.scorer == "overview")
    assert len(overviews) == 3 and sum("spanish" in name for name in overviews) == 1


def test_the_offline_suite_leaves_out_the_likelihood_its_reference_reports(tmp_path):
    # python -m evals.suite steers the fluency check's own reference: its likelihood is in fluency_offline
    concepts = _write(tmp_path / "concepts.jsonl", SPANISH)
    kept, left = (suite(concepts=concepts, judge=False, unsteered_likelihood=u, sae_width=256) for u in (True, False))
    assert len(left.scorer) == len(kept.scorer) - 1
    with pytest.raises(ValueError, match="unsteered_likelihood"):
        suite(concepts=concepts, judge=False, unsteered_likelihood="maybe", sae_width=256)


def test_providers_of_one_model_build_a_difference_of_means_once(tiny, tiny_sae_dir, monkeypatch):
    # a capability sweep starts a provider per setting: each used to run the contrast set through the model again
    import steering.directions as directions
    import steering.sources.diff_of_means as diff_of_means_source
    from steering.directions import SaeRef

    model, tokenizer = tiny
    built: list[int] = []
    real = directions.diff_of_means
    monkeypatch.setattr(directions, "diff_of_means", lambda *a, **k: (built.append(a[2]), real(*a, **k))[1])
    monkeypatch.setattr(diff_of_means_source, "_BUILT", weakref.WeakKeyDictionary())  # none built by other tests
    spec = SteeringSpec(1.0, vector="diff_of_means", contrast="german_english")
    first, second = (DirectionResolver(model, tokenizer, 2, SaeRef(str(tiny_sae_dir), release=None)) for _ in "12")
    (a,), (b,) = first.resolve([spec]), second.resolve([spec])
    (c,) = DirectionResolver(model, tokenizer, 1, SaeRef(str(tiny_sae_dir), release=None)).resolve([spec])
    assert built == [2, 1]  # once per layer
    torch.testing.assert_close(a, b)
    assert a is not b and not torch.allclose(a, c)
