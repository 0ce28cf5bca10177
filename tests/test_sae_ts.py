"""SAE-TS on the tiny fixture: measured effects, the linear approximator, targeted vectors, the sweep."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from inspect_ai import eval as inspect_eval

from evals.french import french
from steering.directions import SaeRef
from steering.sae_ts import (
    FIRST_MEASUREMENT,
    REFERENCE_GRID,
    SAMPLING,
    Approximator,
    EffectMeter,
    MeasureConfig,
    candidate_directions,
    check_candidates,
    corpus_chunks,
    fit_approximator,
    grid_scale,
    main,
    measure_effects,
    reference_loss,
    target_offtarget_ratio,
)

# the random tiny model sits at chance loss, so a small loss increase is the only reachable target; the
# figures README quotes were measured with the project's first measurement (chat prompts, one sample each,
# nearly greedy), which these tests keep because they are quick
CONFIG = MeasureConfig(layer=2, n_features=96, n_random=96, max_new_tokens=16, loss_increase=0.05, **FIRST_MEASUREMENT)
TARGETS = [5, 17, 42, 100, 200]


@pytest.fixture(scope="module")
def measured(tiny, tiny_sae):
    model, tokenizer = tiny
    meter = EffectMeter(model, tokenizer, tiny_sae, CONFIG)
    directions, labels = candidate_directions(tiny_sae, CONFIG)
    effects, scales = measure_effects(meter, directions)
    return meter, directions, effects, scales


@pytest.fixture(scope="module")
def fitted(measured):
    _, directions, effects, _ = measured
    # ridge: the tiny fixture's 192 candidates are far too few for the authors' Adam fit (see the test below)
    return fit_approximator(directions, effects, {"model": "tiny", "sae": "tiny-sae", "layer": "2"}, fit="ridge")


def test_candidates_are_unit_decoder_rows_and_random_directions(tiny_sae, measured):
    _, directions, effects, scales = measured
    assert directions.shape == (192, 64) and effects.shape == (192, 256)
    assert torch.allclose(directions.norm(dim=1), torch.ones(192), atol=1e-5)
    assert (scales > 0).all()


def test_approximator_beats_predicting_the_mean_on_held_out_candidates(fitted):
    assert fitted.r2_heldout > fitted.r2_mean_only + 0.1
    assert fitted.approximator.meta["r2_heldout"] == f"{fitted.r2_heldout:.4f}"


def test_targeted_vector_follows_the_papers_formula(fitted):
    approximator = fitted.approximator
    target = torch.zeros(256)
    target[42] = 1.0
    toward, common = approximator.W[:, 42], approximator.W @ approximator.b
    expected = toward / toward.norm() - common / common.norm()
    torch.testing.assert_close(approximator.targeted_vector(target), expected / expected.norm())


@pytest.mark.parametrize("feature", TARGETS)
def test_sae_ts_hits_its_target_with_less_collateral_than_the_decoder_row(measured, fitted, tiny_sae, feature):
    meter = measured[0]
    target = torch.zeros(256)
    target[feature] = 1.0
    sae_ts_effect, _ = meter.effect(fitted.approximator.targeted_vector(target))
    row = tiny_sae.W_dec[feature].detach()
    row_effect, _ = meter.effect(row / row.norm())
    assert target_offtarget_ratio(sae_ts_effect, feature) >= target_offtarget_ratio(row_effect, feature)


def test_save_and_load_round_trip_exactly(fitted, tmp_path):
    fitted.approximator.save(tmp_path / "fit.safetensors")
    loaded = Approximator.load(tmp_path / "fit.safetensors")
    assert torch.equal(loaded.W, fitted.approximator.W) and torch.equal(loaded.b, fitted.approximator.b)
    assert loaded.meta == fitted.approximator.meta


def test_measurement_resumes_from_its_checkpoint(measured, tmp_path, monkeypatch):
    meter, directions, effects, _ = measured
    checkpoint = tmp_path / "effects.safetensors"
    first, _ = measure_effects(meter, directions[:20], checkpoint)
    torch.testing.assert_close(first, effects[:20])

    def must_not_run(*args, **kwargs):
        raise AssertionError("a measured candidate was measured again")

    monkeypatch.setattr(meter, "effect", must_not_run)
    again, _ = measure_effects(meter, directions[:20], checkpoint)
    assert torch.equal(again, first)
    # a checkpoint of other candidates or settings is refused by name, never mixed in or overwritten
    with pytest.raises(ValueError, match=r"holds 20 effects measured with other settings or candidates"):
        measure_effects(meter, directions[1:21], checkpoint)
    monkeypatch.setattr(meter, "config", dataclasses.replace(meter.config, samples_per_prompt=2))
    with pytest.raises(ValueError, match=r"\"samples_per_prompt\": 1.*\"samples_per_prompt\": 2"):
        measure_effects(meter, directions[:20], checkpoint)


def test_fit_command_saves_an_approximator(tiny_model_dir, tiny_sae_dir, tmp_path, capsys):
    out = tmp_path / "fit.safetensors"
    args = ["fit", "--model", str(tiny_model_dir), "--layer", "2", "--sae", str(tiny_sae_dir)]
    args += ["--n-random", "0", "--max-new-tokens", "8", "--loss-increase", "0.05", "--scale-rule", "loss_increase"]
    args += ["--samples-per-prompt", "1", "--baseline-samples-per-prompt", "2"]
    with pytest.raises(ValueError, match="48 candidate directions for a 64-dimensional residual stream"):
        main([*args, "--n-features", "48", "--out", str(out)])
    assert main([*args, "--n-features", "72", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out R^2" in printed and "held-out MSE" in printed
    loaded = Approximator.load(out)
    assert loaded.W.shape == (64, 256) and loaded.meta["sae"] == str(tiny_sae_dir)
    assert out.with_suffix(".effects.safetensors").exists()


def _run_on_tiny(task, fitted, tiny_model_dir, tiny_sae_dir, tmp_path):
    """One inspect eval of ``task`` on the tiny fixture with the fitted approximator; the log, checked successful."""
    path = tmp_path / "fit.safetensors"
    fitted.approximator.save(path)
    (log,) = inspect_eval(
        task,
        model=f"steered/{tiny_model_dir}",
        model_args={"sae": str(tiny_sae_dir), "layer": 2, "sae_ts": str(path)},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert log.status == "success", log.error
    return log


def test_inspect_sweeps_sae_ts_against_the_decoder_row_in_one_run(fitted, tiny_model_dir, tiny_sae_dir, tmp_path):
    log = _run_on_tiny(
        french(vector="sae,sae_ts", normalize=True, feature=42, alphas=[0, 40], methods="add", n_prompts=2,
               max_tokens=8, judge=False, prompting=False),
        fitted, tiny_model_dir, tiny_sae_dir, tmp_path,
    )  # fmt: skip
    assert {s.metadata["vector"] for s in log.samples} == {"sae", "sae_ts"}
    for sample in log.samples:
        (call,) = [e.call for e in sample.events if e.event == "model"]
        assert call.request["steering"]["vector"] == sample.metadata["vector"]
        assert call.request["steering"]["normalize"] is True
    texts = {
        (s.metadata["vector"], s.metadata["alpha"], s.metadata["prompt_id"]): s.output.completion for s in log.samples
    }
    assert texts[("sae", 0.0, "p00")] == texts[("sae_ts", 0.0, "p00")]
    assert texts[("sae", 40.0, "p00")] != texts[("sae_ts", 40.0, "p00")]


def test_missing_approximator_names_the_fit_command(tiny, tiny_sae_dir, tmp_path):
    from steering.sources.resolver import DirectionResolver
    from steering.spec import SteeringSpec

    model, tokenizer = tiny
    source = DirectionResolver(
        model, tokenizer, 2, SaeRef(str(tiny_sae_dir), None), sae_ts=str(tmp_path / "none.safetensors")
    )
    with pytest.raises(ValueError, match="python -m steering.sae_ts fit"):
        source.resolve([SteeringSpec(alpha=1, vector="sae_ts", feature=3)])


def _linear_map(d_model: int, d_sae: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(d_model, d_sae, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("n", "recovered"), [(48, False), (512, True)])
def test_a_known_linear_map_is_recovered_only_with_more_candidates_than_dimensions(n, recovered):
    """The span test: fitted columns are confined to the candidates' span when n < d_model."""
    d_model, d_sae = 64, 32
    truth = _linear_map(d_model, d_sae)
    generator = torch.Generator().manual_seed(1)
    directions = torch.randn(n, d_model, generator=generator)
    directions /= directions.norm(dim=1, keepdim=True)
    effects = directions @ truth + 0.3 + 0.05 * torch.randn(n, d_sae, generator=generator)
    fit = fit_approximator(directions, effects, {}, fit="ridge", ridge=1e-3)
    cosines = torch.nn.functional.cosine_similarity(fit.approximator.W, truth, dim=0)
    if recovered:
        assert cosines.min() >= 0.7 and fit.r2_heldout > 0.9
    else:
        assert cosines.max() < 0.95 and cosines.mean() < 0.9  # at most the share of the space the candidates span
    with pytest.raises(ValueError, match=f"{n} candidate directions for a 64-dimensional") if not recovered else _ok():
        check_candidates(n, d_model)


def _ok():
    from contextlib import nullcontext

    return nullcontext()


def test_the_reference_loss_ignores_predicting_bos_from_a_pad_position(tiny):
    model, tokenizer = tiny
    texts = ["The cat is sleeping on the sofa.", "Hi."]
    padded = tokenizer(texts, return_tensors="pt", padding=True)
    assert (padded["attention_mask"] == 0).any()
    total, count = 0.0, 0
    for text in texts:
        alone = tokenizer([text], return_tensors="pt")
        n = alone["input_ids"].shape[1] - 1
        total += reference_loss(model, alone, 2, None, 0.0) * n
        count += n
    assert reference_loss(model, padded, 2, None, 0.0) == pytest.approx(total / count, rel=1e-5)


def test_the_measurement_samples_as_the_authors_did_by_default(tiny, tiny_sae):
    assert SAMPLING[MeasureConfig(layer=2).sampling] == {"temperature": 1.0, "top_k": 50, "top_p": None}
    with pytest.raises(ValueError, match=r"unknown sampling 'greedy': use one of \['reference', 'nearly_greedy'\]"):
        MeasureConfig(layer=2, sampling="greedy")
    seen = []
    model, tokenizer = tiny

    class Spy(EffectMeter):
        def _activations(self, steering, samples_per_prompt=None):
            seen.append(self.params)
            return torch.zeros(tiny_sae.cfg.d_sae)

    Spy(model, tokenizer, tiny_sae, MeasureConfig(layer=2, max_new_tokens=4))
    (params_per_prompt,) = seen
    params = params_per_prompt[0]
    assert {(p.temperature, p.top_k, p.top_p) for p in params_per_prompt} == {(1.0, 50, None)}
    # no top-p warper reaches the sampler
    from steering.sampling import PerRowSampler

    assert [type(w).__name__ for w in PerRowSampler.warpers_for(params)] == [
        "TemperatureLogitsWarper",
        "TopKLogitsWarper",
    ]


def test_default_candidates_scale_with_the_model(tiny_sae):
    directions, labels = candidate_directions(tiny_sae, MeasureConfig(layer=2))
    # 4 x d_model = 256 decoder rows (all of the tiny SAE's 256), no random vectors
    assert directions.shape == (256, 64) and all(label.startswith("feature:") for label in labels)


def test_the_grid_rule_interpolates_between_the_last_two_scales_as_the_authors_do():
    # loss 2 + s/50 crosses 4.0 between 100 (4.0, not above) and 120 (4.4): interpolated to exactly 100
    assert grid_scale(lambda s: 2 + s / 50, REFERENCE_GRID, 4.0) == pytest.approx(100.0)
    assert grid_scale(lambda s: 2 + s / 45, REFERENCE_GRID, 4.0) == pytest.approx(90.0)
    # never above the target on the grid: extrapolated from the last two points (180, 1.18) and (200, 1.2)
    assert grid_scale(lambda s: 1 + s / 1000, REFERENCE_GRID, 4.0) == pytest.approx(3000.0)
    # never above the target and falling at the end: theirs would extrapolate to a negative scale; ours stops at 200
    assert grid_scale(lambda s: 1 + s / 1000 - (s == 200) * 0.1, REFERENCE_GRID, 4.0) == 200.0
    with pytest.raises(ValueError, match=r"the loss at scale 0 \(6.000\) already exceeds the target 4.0"):
        grid_scale(lambda s: 6.0, REFERENCE_GRID, 4.0)


def test_the_reference_scale_rule_on_the_tiny_fixture_equals_a_hand_computation(tiny, tiny_sae):
    model, tokenizer = tiny
    chunks = corpus_chunks(tokenizer, None, 128)
    assert chunks["input_ids"].shape[1] == 32 and bool(chunks["attention_mask"].all())
    base = reference_loss(model, chunks, 2, None, 0.0)
    # the random model sits near chance (ln 400 = 5.99): minus feature 5's row raises the loss by ~0.05
    config = MeasureConfig(
        layer=2,
        n_features=64,
        max_new_tokens=4,
        target_loss=base + 0.04,
        samples_per_prompt=1,
        baseline_samples_per_prompt=1,
    )
    meter = EffectMeter(model, tokenizer, tiny_sae, config)
    unit = torch.nn.functional.normalize(-tiny_sae.W_dec[5].detach().float(), dim=0)
    losses = []
    for scale in REFERENCE_GRID:  # by hand: up the grid until the loss passes the absolute target
        losses.append(reference_loss(model, chunks, 2, unit, scale))
        if losses[-1] > config.target_loss:
            break
    (x1, x2), (y1, y2) = REFERENCE_GRID[len(losses) - 2 : len(losses)], losses[-2:]
    expected = x1 + (config.target_loss - y1) * (x2 - x1) / (y2 - y1)
    assert meter.scale_for(unit) == pytest.approx(expected)
    assert len(losses) >= 2 and x1 <= expected <= x2


def test_weighted_targets_are_the_weighted_sum_of_one_hot_targets_before_normalising(
    fitted, tiny, tiny_sae_dir, tmp_path
):
    from steering.directions import SaeRef
    from steering.sources.resolver import DirectionResolver
    from steering.spec import SteeringSpec, parse_targets

    path = tmp_path / "fit.safetensors"
    fitted.approximator.save(path)
    model, tokenizer = tiny
    source = DirectionResolver(model, tokenizer, 2, SaeRef(str(tiny_sae_dir), release=None), sae_ts=str(path))
    targets = parse_targets("5:0.5,17:0.5")
    assert targets == parse_targets('{"5": 0.5, "17": 0.5}') == ((5, 0.5), (17, 0.5))
    (weighted,) = source.resolve([SteeringSpec(1.0, vector="sae_ts", targets=targets)])
    W, b = fitted.approximator.W, fitted.approximator.b
    one_hot = torch.eye(W.shape[1])
    toward = 0.5 * (W @ one_hot[5]) + 0.5 * (W @ one_hot[17])
    expected = torch.nn.functional.normalize(toward, dim=0) - torch.nn.functional.normalize(W @ b, dim=0)
    torch.testing.assert_close(weighted, torch.nn.functional.normalize(expected, dim=0))
    (single,) = source.resolve([SteeringSpec(1.0, feature=5, vector="sae_ts")])
    assert not torch.allclose(weighted, single)
    with pytest.raises(ValueError, match="feature 999 is out of range"):
        source.resolve([SteeringSpec(1.0, vector="sae_ts", targets=((999, 1.0),))])


def test_weighted_sae_rows_are_the_normalised_weighted_sum_of_decoder_rows(tiny, tiny_sae, tiny_sae_dir):
    """The authors' feature steering with several features (analysis.load_sae_steer): normalize(sum w_i W_dec[i])."""
    from steering.directions import SaeRef
    from steering.sources.resolver import DirectionResolver
    from steering.spec import SteeringSpec

    model, tokenizer = tiny
    source = DirectionResolver(model, tokenizer, 2, SaeRef(str(tiny_sae_dir), release=None))
    (vector,) = source.resolve([SteeringSpec(1.0, vector="sae", targets=((5, 0.5), (17, 0.25)))])
    rows = tiny_sae.W_dec.detach().float()
    torch.testing.assert_close(vector, torch.nn.functional.normalize(0.5 * rows[5] + 0.25 * rows[17], dim=0))
    with pytest.raises(ValueError, match="feature 999 is out of range"):
        source.resolve([SteeringSpec(1.0, vector="sae", targets=((5, 1.0), (999, 1.0)))])
    with pytest.raises(ValueError, match="weighted targets work with vector 'sae' or 'sae_ts'"):
        SteeringSpec(1.0, vector="diff_of_means", targets=((5, 1.0),))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5:x", r"weighted target '5:x' is not feature:weight"),
        ("5:0.5,5:0.5", r"a target feature is listed twice: \[5, 5\]"),
        ("5:0", r"target weight of feature 5 must be a finite non-zero number"),
        ("-1:1", r"target feature must be a non-negative integer"),
    ],
)
def test_bad_weighted_targets_are_named(text, message):
    from steering.spec import parse_targets

    with pytest.raises(ValueError, match=message):
        parse_targets(text)


def test_weighted_targets_run_through_the_task_arguments(fitted, tiny_model_dir, tiny_sae_dir, tmp_path):
    from evals.curves import write_outputs

    with pytest.raises(ValueError, match=r"weighted targets \(feature=5:0.5,17:0.5\) work with vector='sae' or 'sae"):
        french(vector="diff_of_means", feature="5:0.5,17:0.5")
    # Inspect's CLI splits -T feature=5:0.5,17:0.5 at the comma and reads a JSON object as a mapping
    for cli_form in (["5:0.5", "17:0.5"], {"5": 0.5, "17": 0.5}):
        task = french(vector="sae_ts", feature=cli_form, alphas=[0], methods="add", n_prompts=1, judge=False)
        assert {s.metadata["targets"] for s in task.dataset if s.metadata["vector"] == "sae_ts"} == {"5:0.5,17:0.5"}
    log = _run_on_tiny(
        french(vector="sae_ts", feature="5:0.5,17:0.5", alphas=[0, 40], methods="add", n_prompts=2, max_tokens=6,
               judge=False, prompting=False),
        fitted, tiny_model_dir, tiny_sae_dir, tmp_path,
    )  # fmt: skip
    for sample in log.samples:
        (call,) = [e.call for e in sample.events if e.event == "model"]
        assert call.request["steering"]["targets"] == [[5, 0.5], [17, 0.5]]
        assert call.request["steering"]["feature"] is None
    summary = write_outputs([tmp_path / "logs"], tmp_path / "curves")["summary"]
    assert set(summary["feature"]) == {"5:0.5,17:0.5"}


def test_the_measurement_uses_the_authors_prompts_samples_and_lengths_by_default(tiny, tiny_sae, monkeypatch):
    """14 raw prompts (3 empty) after BOS, 32 tokens in all, 64 samples per prompt, a 10x larger baseline."""
    import steering.sae_ts.measure as sae_ts  # where the meter looks its helpers up

    defaults = MeasureConfig(layer=2)
    assert (defaults.prompt_set, defaults.samples_per_prompt, defaults.baseline_samples_per_prompt) == (
        "reference",
        64,
        640,
    )
    calls, encoded = [], []
    real, real_encode = sae_ts.generate_in_batches, sae_ts.feature_activations

    def spy(model, tokenizer, requests, params, layer, batch_size):
        calls.append((list(requests), params))
        return real(model, tokenizer, requests, params, layer, batch_size)

    def encode_spy(model, tokenizer, sae, layer, requests, replies, batch_size):
        encoded.append((list(requests), list(replies)))
        return real_encode(model, tokenizer, sae, layer, requests, replies, batch_size)

    monkeypatch.setattr(sae_ts, "generate_in_batches", spy)
    monkeypatch.setattr(sae_ts, "feature_activations", encode_spy)
    model, tokenizer = tiny
    config = MeasureConfig(layer=2, samples_per_prompt=2, baseline_samples_per_prompt=5, scale_rule="loss_increase")
    meter = EffectMeter(model, tokenizer, tiny_sae, config)
    rows = [(r.messages[0]["content"], r.seed, params) for requests, params in calls for r in requests]
    by_index = {(seed - config.seed) % 100003: prompt for prompt, seed, _ in rows}
    authors = ["", "", "", "I think", "Breaking news", "Last night", "For sale", "The weather", "Dear Sir/Madam",
               "Preheat the oven", "It's interesting that", "Assistant:", "I went up to",
               "New study suggests"]  # fmt: skip
    assert [by_index[i] for i in range(len(by_index))] == authors
    from steering.generation import prompt_text

    assert len(rows) == 14 * 5 and len(calls) == 1  # every prompt in one pass, in full batches
    ((requests, replies),) = encoded
    lengths = set()
    for request, reply in zip(requests, replies):
        assert not request.chat and request.steering is None
        text = prompt_text(tokenizer, request)
        assert text == "<bos>" + request.messages[0]["content"]  # raw, no chat template
        used = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert used + len(reply) <= 32  # each row cut at 32 tokens in all
        lengths.add(used + len(reply))
    assert 32 in lengths
    baseline_seeds = sorted(seed for _, seed, _ in rows)
    calls.clear()
    meter.effect(torch.nn.functional.normalize(tiny_sae.W_dec[5].detach().float(), dim=0), scale=10.0)
    steered = [r for requests, _ in calls for r in requests]
    assert len(steered) == 14 * 2
    # sample j of prompt i has the same seed for the candidate as for the baseline: j < 2 of the baseline's 5
    assert sorted(r.seed for r in steered) == [s for s in baseline_seeds if (s - config.seed) // 100003 < 2]
    assert all(r.steering is not None and r.steering.alpha == 10.0 for r in steered)


def test_the_target_loss_is_the_authors_per_model(caplog):
    from steering.sae_ts import target_loss_for

    assert target_loss_for("google/gemma-2-2b") == target_loss_for("google/gemma-2-2b-it") == 4.0
    assert target_loss_for("google/gemma-2-9b-it") == 3.5
    assert target_loss_for("smollm2-135m-instruct") == 4.0
    assert "no SAE-TS target loss is known for smollm2-135m-instruct" in caplog.text


def test_feature_activations_read_the_layer_without_logits_in_chunks_and_survive_out_of_memory(
    tiny, tiny_sae, monkeypatch
):
    """Bounded memory: the decoder only (no vocabulary logits), chunked encoding, halving on out-of-memory."""
    import steering.sae_ts.measure as measure
    from steering.generation import Request, prompt_text
    from steering.hooks import recording

    model, tokenizer = tiny
    requests = [Request([{"role": "user", "content": p}]) for p in ("Hello", "Explain a bicycle.", "Hi")]
    replies = [[50, 60, 70], [80], [90, 100]]
    # the reference: the whole model forward, as before, averaged over the reply tokens
    total, count = torch.zeros(tiny_sae.cfg.d_sae, dtype=torch.float64), 0
    for request, reply in zip(requests, replies):
        ids = tokenizer(prompt_text(tokenizer, request), add_special_tokens=False)["input_ids"] + reply
        with torch.no_grad(), recording(model, 2) as seen:
            model(input_ids=torch.tensor([ids]))
        acts = tiny_sae.encode(seen[0][0, -len(reply) :])
        total, count = total + acts.double().sum(0), count + len(reply)
    expected = (total / count).float()

    head = model.get_output_embeddings()
    monkeypatch.setattr(head, "forward", lambda *a, **k: pytest.fail("vocabulary logits computed"))
    monkeypatch.setattr(measure, "ENCODE_CHUNK", 2)
    real, calls = measure._encode_rows, []

    def flaky(model, tokenizer, sae, layer, rows):
        calls.append(len(rows))
        if len(rows) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, tokenizer, sae, layer, rows)

    torch.testing.assert_close(
        measure.feature_activations(model, tokenizer, tiny_sae, 2, requests, replies, 3), expected
    )
    monkeypatch.setattr(measure, "_encode_rows", flaky)
    halved = measure.feature_activations(model, tokenizer, tiny_sae, 2, requests, replies, 3)
    torch.testing.assert_close(halved, expected)
    assert calls == [3, 1, 1, 1]  # 3 rows fail, halved to 1 per batch


def test_the_authors_adam_fit_recovers_a_linear_map_from_as_many_candidates_as_theirs(caplog):
    """Adam at 2e-4, cosine schedule, 15 epochs, batches of 64, validation on the last 100: 9,216 candidates
    (their count for gemma-2-2b) at the scale of real effects; 4,096 are not enough steps for it."""
    d_model, d_sae, n = 64, 1024, 9216
    truth = 0.05 * _linear_map(d_model, d_sae)
    generator = torch.Generator().manual_seed(1)
    directions = torch.randn(n, d_model, generator=generator)
    directions /= directions.norm(dim=1, keepdim=True)
    effects = directions @ truth + 0.01 + 0.002 * torch.randn(n, d_sae, generator=generator)
    with caplog.at_level("INFO", logger="steering.sae_ts.approximator"):
        fit = fit_approximator(directions, effects, {})
    cosines = torch.nn.functional.cosine_similarity(fit.approximator.W, truth, dim=0)
    assert cosines.min() >= 0.95 and fit.r2_heldout > 0.95
    assert fit.approximator.meta["fit"] == "adam" and "validation MSE" in caplog.text
    ridge = fit_approximator(directions, effects, {}, fit="ridge")
    assert ridge.approximator.meta["fit"] == "ridge (lambda 1)" and ridge.mse_heldout < fit.mse_heldout
    with pytest.raises(ValueError, match="unknown SAE-TS fit 'lbfgs'"):
        fit_approximator(directions, effects, {}, fit="lbfgs")


def test_loss_chunks_are_bos_then_31_tokens_as_tokenize_and_concatenate_cuts_them(tiny):
    import copy

    from datasets import Dataset
    from transformer_lens.utils import tokenize_and_concatenate

    from steering.sae_ts.config import CORPUS_FILE
    from steering.sae_ts.scale import corpus_chunks

    _, tokenizer = tiny
    ours = corpus_chunks(tokenizer, None, 1000)["input_ids"]
    theirs = tokenize_and_concatenate(  # on a copy: it adds a pad token to a tokenizer that has none
        Dataset.from_dict({"text": [CORPUS_FILE.read_text()]}), copy.deepcopy(tokenizer), max_length=32, num_proc=None
    )["tokens"]
    assert (ours[:, 0] == tokenizer.bos_token_id).all() and ours.shape[1] == 32
    assert torch.equal(ours, torch.stack(list(theirs)))
    plain = corpus_chunks(tokenizer, None, 1000, kind="plain")["input_ids"]
    assert plain.shape[1] == 32 and not (plain[:, 0] == tokenizer.bos_token_id).all()
