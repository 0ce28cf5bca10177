import pytest
import torch

from steering import generation, sampling
from steering.generation import GenerationParams, Request, chat_prompt, fold_system, generate
from steering.hooks import RowSteering

LAYER = 2
PROMPTS = [
    "Hello",
    "Write a short story about a lighthouse keeper and the sea at night.",
    "Explain how a bicycle works.",
    "Bonjour, comment allez-vous ?",
]
GREEDY = GenerationParams(max_new_tokens=12)


def _messages(prompt):
    return [{"role": "user", "content": prompt}]


@pytest.fixture(scope="module")
def direction(tiny):
    torch.manual_seed(3)
    return torch.randn(tiny[0].config.hidden_size) * 2


def test_alpha_zero_rows_match_unsteered_generation_exactly(tiny, direction):
    model, tokenizer = tiny
    prompts = [chat_prompt(tokenizer, _messages(p)) for p in PROMPTS]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    assert (batch.attention_mask == 0).any(), "left padding must be present"
    with torch.no_grad():
        plain = model.generate(**batch, max_new_tokens=12, do_sample=False)[:, batch.input_ids.shape[1] :]
    mixed = [
        RowSteering(direction, 0.0, "add"),
        RowSteering(direction, 40.0, "add"),
        RowSteering(direction, 0.0, "add_renorm"),
        RowSteering(direction, -40.0, "add_renorm"),
    ]
    outs = generate(model, tokenizer, [Request(_messages(p), s) for p, s in zip(PROMPTS, mixed)], GREEDY, LAYER)
    for row in (0, 2):
        expected = plain[row].tolist()[: len(outs[row].token_ids)]
        assert outs[row].token_ids == expected
        assert len(outs[row].token_ids) == 12 or outs[row].token_ids[-1] in model.generation_config.eos_token_id
    assert outs[1].token_ids != plain[1].tolist()[: len(outs[1].token_ids)]


def test_a_row_of_a_mixed_batch_equals_the_same_prompt_alone(tiny, direction):
    model, tokenizer = tiny
    specs = [
        RowSteering(direction, 25.0, "add"),
        RowSteering(direction, 0.0, "add"),
        RowSteering(direction, 60.0, "add_renorm"),
        RowSteering(direction, -25.0, "add"),
    ]
    requests = [Request(_messages(p), s) for p, s in zip(PROMPTS, specs)]
    together = generate(model, tokenizer, requests, GREEDY, LAYER)
    for request, batched in zip(requests, together):
        alone = generate(model, tokenizer, [request], GREEDY, LAYER)[0]
        assert alone.token_ids == batched.token_ids
        assert alone.input_tokens == batched.input_tokens


def test_seeded_sampling_does_not_depend_on_batch_mates(tiny, direction):
    model, tokenizer = tiny
    params = GenerationParams(max_new_tokens=10, temperature=1.0, top_p=0.95, top_k=50)
    target = Request(_messages(PROMPTS[1]), RowSteering(direction, 10.0), seed=16)
    mates = [Request(_messages(p), RowSteering(direction, 30.0, "add_renorm"), seed=i) for i, p in enumerate(PROMPTS)]
    alone = generate(model, tokenizer, [target], params, LAYER)[0]
    batched = generate(model, tokenizer, [mates[0], target, mates[2]], params, LAYER)[1]
    assert alone.token_ids == batched.token_ids
    other_seed = Request(target.messages, target.steering, seed=17)
    assert generate(model, tokenizer, [other_seed], params, LAYER)[0].token_ids != alone.token_ids


def test_the_batched_sampler_draws_from_the_softmax_and_ignores_batch_mates():
    """The accelerator sampler: Gumbel-max over hashed per-row noise is an exact softmax draw."""
    params = GenerationParams(max_new_tokens=4, temperature=1.0)
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    rows = 20_000
    chosen = sampling.BatchedSeededSampler(range(rows), params)(None, probs.log().repeat(rows, 1)).argmax(-1)
    # binomial standard error at 20k draws is at most 0.0036
    torch.testing.assert_close(torch.bincount(chosen, minlength=4) / rows, probs, atol=0.012, rtol=0)
    logits = torch.randn(3, 300, generator=torch.Generator().manual_seed(0))
    batch = sampling.BatchedSeededSampler([5, 16, 9], params)
    alone = sampling.BatchedSeededSampler([16], params)
    for _ in range(5):  # step after step, row 1 of the batch draws what the row draws alone
        assert batch(None, logits).argmax(-1)[1] == alone(None, logits[1:2]).argmax(-1)[0]
    other = sampling.BatchedSeededSampler([17] * 50, params)(None, logits[1:2].repeat(50, 1)).argmax(-1)
    assert len(set(other.tolist())) == 1, "one seed, one draw"
    seeds = sampling.BatchedSeededSampler(range(50), params)(None, logits[1:2].repeat(50, 1)).argmax(-1)
    assert len(set(seeds.tolist())) > 10, "different seeds draw different tokens"


def test_uniforms_are_uniform_and_a_function_of_seed_step_and_column():
    u = sampling.seeded_uniform(torch.arange(200), step=3, width=1000)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.005 and abs(u.std().item() - 12**-0.5) < 0.005
    torch.testing.assert_close(sampling.seeded_uniform(torch.tensor([7]), 3, 1000)[0], u[7], atol=0, rtol=0)
    assert not torch.equal(sampling.seeded_uniform(torch.tensor([7]), 4, 1000)[0], u[7])


def test_the_compiled_path_gives_the_eager_tokens(tiny, direction):
    """-M compile=true: static KV cache and compiled decoder layers, hooks eager; greedy tokens unchanged."""
    model, tokenizer = tiny
    requests = [
        Request(_messages(PROMPTS[0]), RowSteering(direction, 0.0, "add")),
        Request(_messages(PROMPTS[1]), RowSteering(direction, 8.0, "add")),
        Request(_messages(PROMPTS[2]), RowSteering(direction, -8.0, "add_renorm")),
        Request(_messages(PROMPTS[3]), None),
    ]
    eager = generate(model, tokenizer, requests, GREEDY, LAYER)
    compiled = generate(model, tokenizer, requests, GREEDY, LAYER, compile=True)
    assert [c.token_ids for c in compiled] == [e.token_ids for e in eager]
    assert len({tuple(e.token_ids) for e in eager}) > 1, "steering must change some rows' tokens"
    # the compiled forwards are swapped in only while a batch runs
    assert all("forward" not in layer.__dict__ for layer in model.model.layers)


def test_token_counts_and_stop_sequences(tiny):
    model, tokenizer = tiny
    out = generate(model, tokenizer, [Request(_messages("Hello"))], GREEDY, LAYER)[0]
    assert out.input_tokens == len(
        tokenizer(chat_prompt(tokenizer, _messages("Hello")), add_special_tokens=False).input_ids
    )
    assert out.output_tokens == len(out.token_ids) > 0
    stop = out.text[3:5]
    assert stop
    cut = generate(model, tokenizer, [Request(_messages("Hello"))], GenerationParams(12, stop_seqs=(stop,)), LAYER)[0]
    assert cut.text == out.text[: out.text.find(stop)]


def test_a_row_ended_by_a_stop_sequence_does_not_count_the_padding_after_it(tiny):
    model, tokenizer = tiny
    requests = [Request(_messages("Hello")), Request(_messages(PROMPTS[1]))]
    free = generate(model, tokenizer, requests, GREEDY, LAYER)
    stop = next(free[0].text[i : i + 2] for i in range(2, 8) if free[0].text[i : i + 2] not in free[1].text)
    stopped = generate(model, tokenizer, requests, GenerationParams(12, stop_seqs=(stop,)), LAYER)
    assert stopped[1].token_ids == free[1].token_ids
    row = stopped[0]
    assert row.output_tokens == len(row.token_ids) < len(free[0].token_ids)
    assert row.token_ids == free[0].token_ids[: row.output_tokens]
    assert tokenizer.pad_token_id not in row.token_ids and row.stop_reason == "stop"


def test_unsteered_logprob_is_the_mean_logprob_of_the_reply(tiny, direction):
    model, tokenizer = tiny
    requests = [Request(_messages(p), RowSteering(direction, 30.0)) for p in PROMPTS[:2]]
    outs = generate(model, tokenizer, requests, GREEDY, LAYER, score_unsteered=True)
    for request, out in zip(requests, outs):
        prompt = tokenizer(
            chat_prompt(tokenizer, request.messages), add_special_tokens=False, return_tensors="pt"
        ).input_ids
        ids = torch.cat([prompt, torch.tensor([out.token_ids])], dim=1)
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0, prompt.shape[1] - 1 : -1], dim=-1)
        expected = logprobs.gather(1, torch.tensor(out.token_ids)[:, None]).mean().item()
        assert out.unsteered_logprob == pytest.approx(expected, abs=1e-4)


def test_system_text_is_folded_into_the_first_user_turn(tiny):
    _, tokenizer = tiny
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert fold_system(messages) == [{"role": "user", "content": "Be brief.\n\nHi"}]
    assert "Be brief.\n\nHi<end_of_turn>" in chat_prompt(tokenizer, messages)


def test_out_of_memory_splits_the_batch_and_retries(tiny, monkeypatch):
    model, tokenizer = tiny
    real = generation.generate
    sizes = []

    def small_memory(model, tokenizer, requests, *args, **kwargs):
        sizes.append(len(requests))
        if len(requests) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, tokenizer, requests, *args, **kwargs)

    monkeypatch.setattr(generation, "generate", small_memory)
    requests = [Request(_messages(p)) for p in PROMPTS[:3]]
    outs = generation.generate_in_batches(model, tokenizer, requests, GREEDY, LAYER, batch_size=4)
    assert sizes == [3, 1, 1, 1]
    expected = [real(model, tokenizer, [r], GREEDY, LAYER)[0].token_ids for r in requests]
    assert [o.token_ids for o in outs] == expected


def test_raw_prompts_are_bos_and_the_text_as_a_base_model_is_run(tiny):
    """chat=False (the provider's -M chat_template=false): no template, BOS + text, empty prompt = BOS alone."""
    model, tokenizer = tiny
    prompts = ["I think", "", "Breaking news"]
    ids = [[tokenizer.bos_token_id, *tokenizer(p, add_special_tokens=False)["input_ids"]] for p in prompts]
    outs = generate(model, tokenizer, [Request(_messages(p), chat=False) for p in prompts], GREEDY, LAYER)
    for row, out in zip(ids, outs):
        with torch.no_grad():
            plain = model.generate(torch.tensor([row]), max_new_tokens=12, do_sample=False)[0, len(row) :]
        assert out.input_tokens == len(row) and out.token_ids == plain.tolist()[: len(out.token_ids)]
    assert outs[1].input_tokens == 1


def test_a_models_own_generation_defaults_never_act_and_are_reported(tiny_model_dir, tmp_path):
    """A shipped repetition_penalty / no_repeat_ngram_size would change steered replies (transformers fills
    every unset field from the model's generation_config); the loader drops them and says which."""
    import json
    import shutil

    from steering.models import hub_generation_defaults, load_model

    shipped = tmp_path / "penalised"
    shutil.copytree(tiny_model_dir, shipped)
    config = json.loads((shipped / "generation_config.json").read_text())
    config.update(repetition_penalty=1.5, no_repeat_ngram_size=2)
    (shipped / "generation_config.json").write_text(json.dumps(config))
    requests = [Request(_messages(p)) for p in PROMPTS]
    params = GenerationParams(max_new_tokens=24)

    plain_model, tokenizer = load_model(str(tiny_model_dir), "cpu", "float32")
    penalised_model, _ = load_model(str(shipped), "cpu", "float32")
    plain = [g.token_ids for g in generate(plain_model, tokenizer, requests, params, LAYER)]
    assert [g.token_ids for g in generate(penalised_model, tokenizer, requests, params, LAYER)] == plain

    # the penalty is real: left in the model's generation_config it changes the tokens
    from transformers import GenerationConfig

    penalised_model.generation_config = GenerationConfig.from_pretrained(shipped)
    try:
        assert [g.token_ids for g in generate(penalised_model, tokenizer, requests, params, LAYER)] != plain
    finally:
        from steering.models import neutral_generation_config

        neutral_generation_config(penalised_model)
    expected = {"repetition_penalty": 1.5, "no_repeat_ngram_size": 2}
    assert penalised_model.steering_generation_defaults == expected
    assert hub_generation_defaults(str(shipped)) == expected
    assert hub_generation_defaults(str(tiny_model_dir)) == {}


def test_the_tokenizer_is_never_used_by_two_threads_at_once():
    """The generation worker pads batches while the fluency reference (the same tokenizer object when it reads
    the steered model) encodes replies: unlocked, one thread's padding state breaks the other's batch."""
    import threading

    from evals.metrics import likelihood
    from steering.testing import build_tokenizer

    tokenizer = build_tokenizer()
    errors: list[str] = []

    def pad_batches():
        for i in range(1500):
            try:
                generation.encode_batch(tokenizer, ["hello world " * (i % 40), "x"])
            except Exception as error:
                errors.append(repr(error))
                return

    def encode_replies():
        for i in range(1500):
            try:
                likelihood.encode_replies(tokenizer, ["a prompt"], ["some reply " * (i % 30)])
            except Exception as error:
                errors.append(repr(error))
                return

    threads = [threading.Thread(target=f) for f in (pad_batches, encode_replies, pad_batches, encode_replies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:2]


def test_a_second_models_load_releases_the_first_when_asked_to(tiny_model_dir, tmp_path, monkeypatch):
    import gc
    import shutil
    import weakref

    from steering import models

    other = shutil.copytree(tiny_model_dir, tmp_path / "other")
    monkeypatch.setattr(models, "_LOADED", {})
    first = weakref.ref(models.load_model(str(tiny_model_dir), "cpu", "float32")[0])
    models.load_model(str(other), "cpu", "float32")
    gc.collect()
    assert first() is not None and len(models._LOADED) == 2  # by default every model stays loaded

    monkeypatch.setenv("STEERING_MAX_MODELS", "1")
    third = shutil.copytree(tiny_model_dir, tmp_path / "third")
    second = weakref.ref(models._LOADED[(str(other), "cpu", "float32", None)][0])
    models.load_model(str(third), "cpu", "float32")
    gc.collect()
    assert first() is None and second() is None  # their weights are gone, not just forgotten
    assert list(models._LOADED) == [(str(third), "cpu", "float32", None)]
