"""Steering inside vLLM equals the HF engine token for token (Gemma 3 270M, CPU, float32, greedy).

One vLLM engine serves the module (about 25 s to start), as a CPU user gets it: whole prefills. A second engine
splits the work: tensor parallel 2, and a prefill chunk of 64 tokens, so a long prompt is prefilled in several
chunks and the steered positions must stay absolute across them.
"""

from __future__ import annotations

import importlib.util
from concurrent.futures import wait

import pytest
import torch

from steering.engines import vllm_engine
from steering.engines.vllm_engine import VllmEngine, VllmGenerator, VllmSettings, shared_engine
from steering.generation import GenerationParams, Request, generate_in_batches
from steering.hooks import RowSteering
from steering.models import resolve_model_path

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")

LAYER = 6
PROMPTS = [
    "I think",
    "The weather today",
    "When I was a child,",
    "The history of the bicycle",
    "A good breakfast",
    "In the evening, the town",
]
LONG = " ".join(["The river ran past the old mill, and the miller counted the sacks of grain one by one."] * 12)
ALPHAS = {"add": (0.0, 0.5, 1.0), "add_renorm": (0.0, 0.5, 1.0), "orthogonal": (0.0, 1.0, 4.0),
          "projection_cap": (0.0, -20.0, 20.0)}  # fmt: skip
"""Two steered alphas per method beside 0 (orthogonal: 1 leaves h alone, 0 ablates; projection_cap: a cap)."""
SETTINGS = VllmSettings(max_model_len=512, max_num_seqs=64)
"""What a CPU user runs: whole prefills (chunked prefill off on CPU by default)."""
GREEDY = GenerationParams(max_new_tokens=12)


def row(prompt: str, steering: RowSteering | None) -> Request:
    return Request([{"role": "user", "content": prompt}], steering, chat=False)


@pytest.fixture(scope="module")
def engines():
    from steering.models import load_model, resolve_model_path

    model, tokenizer = load_model("gemma-3-270m", "cpu", "float32")
    engine = shared_engine(resolve_model_path("gemma-3-270m"), "float32", SETTINGS)
    engine.wait_ready()
    return model, tokenizer, engine


@pytest.fixture(scope="module")
def directions(engines):
    model = engines[0]
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(model.config.hidden_size, generator=generator)
    second = torch.randn(model.config.hidden_size, generator=generator)
    # residual norms at layer 6 are in the thousands: directions of norm 700, as the demo's French direction
    return first / first.norm() * 700, second / second.norm() * 700


def on_vllm(engines, requests: list[Request], params: GenerationParams = GREEDY, positions: str = "all") -> list:
    _, tokenizer, engine = engines
    generator = VllmGenerator(engine, tokenizer, LAYER, positions)
    futures = [generator.submit(r, params) for r in requests]
    wait(futures, timeout=600)
    return [f.result()[0] for f in futures]


def on_hf(engines, requests: list[Request], params: GenerationParams = GREEDY, positions: str = "all") -> list:
    model, tokenizer, _ = engines
    return generate_in_batches(model, tokenizer, requests, params, LAYER, 64, positions)


@pytest.mark.slow
def test_vllm_replies_equal_the_hf_engine_for_every_method_and_alpha(engines, directions):
    cases = [(method, alpha) for method, alphas in ALPHAS.items() for alpha in alphas]
    requests = [row(p, RowSteering(directions[0], a, m)) for m, a in cases for p in PROMPTS]
    hf, vllm = on_hf(engines, requests), on_vllm(engines, requests)
    unequal = [
        (m, a, r.messages[0]["content"], h.text, v.text)
        for (m, a), r, h, v in zip([c for c in cases for _ in PROMPTS], requests, hf, vllm)
        if h.token_ids != v.token_ids
    ]
    assert not unequal, f"{len(unequal)} of {len(requests)} replies differ: {unequal[:3]}"
    # and steering did something: at alpha 1 every add reply differs from alpha 0's
    assert all(hf[i].token_ids != hf[i + 2 * len(PROMPTS)].token_ids for i in range(len(PROMPTS)))


@pytest.mark.slow
def test_a_mixed_batch_equals_each_setting_run_alone(engines, directions):
    # alphas, methods and two vectors in flight together; prompts of different lengths, one over three prefill chunks
    settings = [
        None,
        RowSteering(directions[0], 1.0, "add"),
        RowSteering(directions[1], 1.0, "add"),
        RowSteering(directions[0], 0.5, "add_renorm"),
        RowSteering(directions[1], 4.0, "orthogonal"),
    ]
    prompts = [PROMPTS[3], LONG]
    requests = [row(p, s) for s in settings for p in prompts]
    together = on_vllm(engines, requests)
    alone = [on_vllm(engines, [r])[0] for r in requests]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]
    assert [g.token_ids for g in together] == [g.token_ids for g in on_hf(engines, requests)]
    unsteered = [g.token_ids for g in together[: len(prompts)]]
    for i in range(1, len(settings)):
        steered = [g.token_ids for g in together[i * len(prompts) : (i + 1) * len(prompts)]]
        assert steered != unsteered, f"setting {i} changed no reply"


@pytest.fixture(scope="module")
def split_engine(engines):
    """A second engine that splits the work both ways: two tensor-parallel worker processes, each with half of
    every layer's heads, and prefills in chunks of 64 tokens (one engine for both, as each costs a start)."""
    settings = VllmSettings(
        max_model_len=512, max_num_batched_tokens=64, max_num_seqs=64, chunked_prefill=True,
        tensor_parallel_size=2, kv_cache_memory=0.5,
    )  # fmt: skip
    engine = VllmEngine(resolve_model_path("gemma-3-270m"), "float32", settings)
    try:
        engine.wait_ready()
        yield engine
    finally:
        engine.stop()


@pytest.mark.slow
def test_generated_positions_stay_absolute_across_prefill_chunks(engines, directions, split_engine):
    # positions=generated leaves the prompt alone but its last token: a chunk-relative position would steer more
    model, tokenizer, _ = engines
    requests = [row(p, RowSteering(directions[0], 1.0)) for p in (PROMPTS[1], LONG)]
    hf = on_hf(engines, requests, positions="generated")
    on_chunks = on_vllm((model, tokenizer, split_engine), requests, positions="generated")
    assert [g.token_ids for g in on_chunks] == [g.token_ids for g in hf]
    assert hf[1].token_ids != on_hf(engines, requests[1:])[0].token_ids


def test_seeded_sampling_of_long_prompts_survives_a_full_batch_and_is_reproducible(engines, directions):
    """On CPU a partial prefill killed the engine ("CPU Generator does not use offset"): 12 long prompts of ~250
    tokens overflow one pass of 2,048 tokens, each sampled with its own seed."""
    sampled = GenerationParams(max_new_tokens=8, temperature=0.7)
    rows = [
        Request([{"role": "user", "content": f"{i}. {LONG}"}], RowSteering(directions[0], 0.5), seed=i, chat=False)
        for i in range(12)
    ]
    together = [g.token_ids for g in on_vllm(engines, rows, sampled)]
    assert [g.token_ids for g in on_vllm(engines, rows[:1], sampled)] == together[:1]
    assert [g.token_ids for g in on_vllm(engines, rows[7:8], sampled)] == together[7:8]
    assert len(set(map(tuple, together))) > 1


@pytest.mark.slow
def test_the_layer_output_inside_vllm_is_h_plus_alpha_v(engines, directions):
    _, _, engine = engines
    streams = {}
    for name, steering in [
        ("unsteered", None),
        ("add", RowSteering(directions[0], 0.75, "add")),
        ("add_renorm", RowSteering(directions[0], 0.75, "add_renorm")),
    ]:
        # recorded inside the worker after the steering hook: the sum of the layer's (hidden, residual)
        engine.rpc("steering_capture", LAYER)
        on_vllm(engines, [row(PROMPTS[2], steering)], GenerationParams(max_new_tokens=1))
        (seen,) = engine.rpc("steering_captured")
        streams[name] = torch.tensor(seen[0])
    h, v = streams["unsteered"], directions[0]
    torch.testing.assert_close(streams["add"], h + 0.75 * v, rtol=1e-5, atol=1e-3)
    expected = (h + 0.75 * v) * (h.norm(dim=-1, keepdim=True) / (h + 0.75 * v).norm(dim=-1, keepdim=True))
    torch.testing.assert_close(streams["add_renorm"], expected, rtol=1e-5, atol=1e-3)


@pytest.mark.slow
def test_prefix_caching_never_serves_steered_kv_to_another_setting(engines, directions):
    # the long prompt fills whole KV blocks, which prefix caching keeps and offers to the next identical prefix
    unsteered, steered = row(LONG, None), row(LONG, RowSteering(directions[0], 1.0))
    interleaved = [on_vllm(engines, [r])[0].token_ids for r in (unsteered, steered, unsteered, steered)]
    expected = [g.token_ids for g in on_hf(engines, [unsteered, steered])]
    assert interleaved == expected * 2
    assert expected[0] != expected[1]


def test_sampled_replies_are_seeded_per_prompt(engines, directions):
    sampled = GenerationParams(max_new_tokens=12, temperature=0.7)
    rows = [Request([{"role": "user", "content": PROMPTS[0]}], None, seed=s, chat=False) for s in (1, 1, 2)]
    first, again, other = (g.token_ids for g in on_vllm(engines, rows, sampled))
    assert first == again and first != other


@pytest.mark.slow
def test_tensor_parallel_2_equals_tensor_parallel_1(engines, directions, split_engine):
    # two worker processes, each with half of every layer's heads; both apply the same change to the stream
    _, tokenizer, _ = engines
    requests = [
        row(p, s)
        for s in (None, RowSteering(directions[0], 1.0), RowSteering(directions[1], 0.5, "add_renorm"))
        for p in PROMPTS[:4]
    ]
    generator = VllmGenerator(split_engine, tokenizer, LAYER)
    futures = [generator.submit(r, GREEDY) for r in requests]
    wait(futures, timeout=600)
    assert [f.result()[0].token_ids for f in futures] == [g.token_ids for g in on_vllm(engines, requests)]
    assert split_engine.description["tensor_parallel_size"] == 2
    assert sum(status["steered_rows"] > 0 for status in split_engine.rpc("steering_status")) == 2


@pytest.mark.slow
def test_inspect_eval_on_the_vllm_engine_gives_the_hf_engines_replies(engines, tmp_path):
    from inspect_ai import eval as inspect_eval
    from inspect_ai.log import ModelEvent

    from evals.demo import french_demo

    common = {"layer": LAYER, "chat_template": False, "fluency_proxy": False}
    # the module's engine settings, so the provider finds the engine already running
    vllm_args = {"engine": "vllm", "max_model_len": 512, "max_num_seqs": 64}
    running = dict(vllm_engine._SHARED)
    replies, logs = {}, {}
    for name, extra in (("hf", {"batch_size": 16}), ("vllm", vllm_args)):
        task = french_demo(n_prompts=2, alphas="0,1", methods="add,add_renorm", max_tokens=8, prompting=False)
        (log,) = inspect_eval(
            task,
            model="steered/gemma-3-270m",
            model_args={**common, **extra},
            temperature=0.0,  # greedy: the engines' samplers draw differently, their greedy tokens agree
            log_dir=str(tmp_path / name),
            display="none",
        )
        assert log.status == "success", log.error
        replies[name] = {sample.id: sample.output.completion for sample in log.samples}
        logs[name] = log
    assert replies["vllm"] == replies["hf"] and len(replies["hf"]) == 8
    assert vllm_engine._SHARED == running, "the provider started an engine of its own"
    call = next(e for e in logs["vllm"].samples[0].events if isinstance(e, ModelEvent)).call
    assert call.request["provider"]["engine"]["name"] == "vllm"
    assert call.request["provider"]["engine"]["dtype"] == "float32"


@pytest.mark.slow
def test_stop_sequences_and_max_tokens_cut_replies_as_the_hf_engine_does(engines, directions):
    params = GenerationParams(max_new_tokens=24, stop_seqs=(".", ","))
    requests = [row(p, s) for s in (None, RowSteering(directions[0], 1.0)) for p in PROMPTS[:4]]
    hf, vllm = on_hf(engines, requests, params), on_vllm(engines, requests, params)
    assert [(g.text, g.stop_reason) for g in vllm] == [(g.text, g.stop_reason) for g in hf]
    assert any(g.stop_reason == "stop" and len(g.token_ids) < 24 for g in hf), "no reply reached a stop sequence"
