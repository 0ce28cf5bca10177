"""Faults injected on the tiny fixtures: cancellation, two models on one set of weights, an overflowing row,
empty replies, a grader outage, SIGINT and bad input, each shown to fail only what it concerns."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai import eval_retry
from inspect_ai.log import read_eval_log
from inspect_ai.model import ChatMessageUser, GenerateConfig

from evals.french import french
from steering.provider.model_api import SteeredModelAPI

REPO = Path(__file__).resolve().parents[1]
FEATURE = 5


def _provider(model_dir, sae_dir, **args) -> SteeredModelAPI:
    return SteeredModelAPI(str(model_dir), sae=str(sae_dir), **{"layer": 2, **args})


async def _reply(
    api: SteeredModelAPI, prompt: str, alpha: float, max_tokens: int = 12, vector: str = "sae", **config
) -> str:
    steering = {"alpha": alpha, "method": "add", "feature": FEATURE, "vector": vector}
    output, _ = await api.generate(
        [ChatMessageUser(content=prompt)],
        tools=[],
        tool_choice="none",
        config=GenerateConfig(max_tokens=max_tokens, extra_body={"steering": steering}, **config),
    )
    return output.completion


def test_a_call_cancelled_mid_generation_leaves_the_provider_working(tiny_model_dir, tiny_sae_dir):
    api = _provider(tiny_model_dir, tiny_sae_dir, batch_size=1, batch_wait=0)

    async def scenario():
        await _reply(api, "warm up", 0.0)  # load the weights first, so the cancel lands mid-generation
        slow = asyncio.ensure_future(_reply(api, "a long one", 40.0, max_tokens=400))
        await asyncio.sleep(0.3)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await asyncio.wait_for(_reply(api, "then this one", 0.0), timeout=60)

    assert isinstance(asyncio.run(scenario()), str)
    assert api._worker._thread.is_alive() and api._worker.restarts == 0


def test_two_providers_on_the_same_weights_run_concurrently_as_they_run_alone(tiny_model_dir, tiny_sae_dir, tmp_path):
    import torch
    from safetensors.torch import save_file

    vector = tmp_path / "v.safetensors"
    save_file({"v": torch.randn(64, generator=torch.Generator().manual_seed(0)) * 8}, str(vector))
    # layer 2 with an SAE row and layer 1 with a vector file, on one model: both hook the same module tree
    first = _provider(tiny_model_dir, tiny_sae_dir, batch_size=4)
    second = _provider(tiny_model_dir, tiny_sae_dir, batch_size=3, layer=1, positions="generated")
    prompts = [f"prompt number {i}" for i in range(6)]

    async def replies(api, vector_source):
        calls = [_reply(api, p, a, vector=vector_source) for p in prompts for a in (0.0, 40.0, -40.0)]
        return await asyncio.gather(*calls)

    async def serially():
        return [await replies(first, "sae"), await replies(second, str(vector))]

    async def concurrently():
        return list(await asyncio.gather(replies(first, "sae"), replies(second, str(vector))))

    alone = asyncio.run(serially())
    together = asyncio.run(concurrently())
    assert together == alone
    assert alone[0] != alone[1] and len(set(alone[0])) > 6  # the two providers really steer differently


def test_an_overflowing_row_fails_alone_and_names_its_alpha(tiny_model_dir, tiny_sae_dir):
    api = _provider(tiny_model_dir, tiny_sae_dir, dtype="float16", batch_size=8, batch_wait=0.2)

    async def scenario():
        calls = [_reply(api, f"prompt {i}", alpha, temperature=1.0, seed=1) for i in range(3) for alpha in (0.0, 1e6)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(scenario())
    baselines, overflowed = results[0::2], results[1::2]
    assert all(isinstance(r, str) for r in baselines), baselines
    for error in overflowed:
        assert isinstance(error, RuntimeError)
        message = str(error)
        assert "non-finite" in message and "alpha=1e+06" in message and "method=add" in message
        assert f"feature={FEATURE}" in message


def test_a_generated_pad_token_is_text_and_an_end_token_ends_the_reply(tiny, tiny_sae):
    import torch

    from steering.generation import GenerationParams, Request, generate

    model, tokenizer = tiny
    request = [Request([{"role": "user", "content": "hello there"}])]
    params = GenerationParams(max_new_tokens=6)
    (plain,) = generate(model, tokenizer, request, params, layer=2, score_unsteered=True)
    assert plain.output_tokens == 6 and plain.unsteered_logprob < 0
    # make the model's own second token the pad token: it must stay part of the reply
    original_pad = tokenizer.pad_token
    try:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(plain.token_ids[1])
        (padded,) = generate(model, tokenizer, request, params, layer=2, score_unsteered=True)
    finally:
        tokenizer.pad_token = original_pad
    assert padded.token_ids == plain.token_ids and padded.output_tokens == 6
    assert padded.unsteered_logprob == pytest.approx(plain.unsteered_logprob)
    # an end-of-sequence token as the first new token: an empty reply (the scorer leaves it unscored)
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, int) else eos[0]

    from transformers import LogitsProcessor, LogitsProcessorList

    class ForceEos(LogitsProcessor):
        def __call__(self, input_ids, scores):
            out = torch.full_like(scores, -1e9)
            out[:, eos] = 0
            return out

    original = model.generate

    def generate_eos(*args, logits_processor=None, **kwargs):
        return original(*args, logits_processor=LogitsProcessorList([ForceEos(), *(logits_processor or [])]), **kwargs)

    model.generate = generate_eos
    try:
        (empty,) = generate(model, tokenizer, request, params, layer=2, score_unsteered=True)
    finally:
        del model.generate
    assert (empty.text, empty.token_ids, empty.stop_reason) == ("", [eos], "stop")


def test_an_empty_reply_is_unscored_by_the_logprob_scorer():
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import Target
    from inspect_ai.solver import TaskState

    from evals.scorers import unsteered_logprob

    state = TaskState(model="m", sample_id=1, epoch=1, input="hi", messages=[])
    state.output = ModelOutput.from_content(model="m", content="")
    state.output.metadata = {"unsteered_logprob": 0.0}
    score = asyncio.run(unsteered_logprob()(state, Target("")))
    assert score.value != score.value  # NaN: unscored, never the best possible 0.0
    assert "empty" in score.metadata["reason"] if score.metadata else "empty" in str(score)


def test_a_grader_outage_then_retry_regenerates_nothing(tiny_model_dir, tiny_sae_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STUB_GRADER_DOWN", "1")
    # an outage that begins after the preflight (a grader down from the start fails before generating: next test)
    args = {"alphas": [0, 40], "n_prompts": 2, "feature": FEATURE, "max_tokens": 8, "preflight": False}
    (failed,) = inspect_eval(
        french(**args),
        model=f"steered/{tiny_model_dir}",
        model_args={"sae": str(tiny_sae_dir), "layer": 2},
        model_roles={"grader": "stubgrader/outage"},
        log_dir=str(tmp_path / "logs"),
        display="none",
        fail_on_error=False,
    )
    assert failed.status == "error" or any(s.error for s in failed.samples)
    generated_before = SteeredModelAPI.generated_total
    monkeypatch.delenv("STUB_GRADER_DOWN")
    (retried,) = eval_retry(failed, log_dir=str(tmp_path / "logs"), display="none")
    assert retried.status == "success"
    assert SteeredModelAPI.generated_total == generated_before, "eval-retry regenerated steered replies"
    steered = [e for s in retried.samples for e in s.events if e.event == "model" and e.model.startswith("steered/")]
    assert steered and all(e.cache == "read" for e in steered)
    assert {s.id: s.output.completion for s in retried.samples} == {
        s.id: s.output.completion for s in failed.samples if s.output and s.output.completion
    }


def test_sigint_during_generation_exits_cleanly(tiny_model_dir, tiny_sae_dir, tmp_path):
    command = [
        sys.executable, "-m", "inspect_ai", "eval", "evals/french.py",
        "--model", f"steered/{tiny_model_dir}", "-M", f"sae={tiny_sae_dir}", "-M", "layer=2",
        "--model-role", "grader=stubgrader/length", "-T", f"feature={FEATURE}", "-T", "alphas=0,10,20,30",
        "-T", "n_prompts=40", "-T", "max_tokens=400", "-T", "cache=false",
        "--log-dir", str(tmp_path), "--display", "plain",
    ]  # fmt: skip
    # a shell that starts a job in the background (CI, nohup) leaves SIGINT ignored in it and its children, and the
    # eval would run to its end: the child gets Ctrl-C as a terminal gives it
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    time.sleep(1)
    # a loaded machine (the full suite, 2 cores) can take minutes to import and start the eval: a SIGINT sent
    # before Inspect runs would test nothing, so wait for the log (the eval under way) before interrupting
    deadline = time.monotonic() + 300
    logs = []
    while time.monotonic() < deadline and not logs and process.poll() is None:
        time.sleep(0.5)
        logs = list(tmp_path.glob("*.eval"))
    assert logs, "the eval did not start within 300 s"
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    output, _ = process.communicate(timeout=300)
    assert process.returncode not in (134, -6), output[-3000:]
    assert "terminate called" not in output and "InvalidStateError" not in output, output[-3000:]
    # it stopped: within seconds, its log marked cancelled (a rerun resumes it)
    assert time.monotonic() - interrupted < 60, output[-3000:]
    log = read_eval_log(str(logs[0]), header_only=True)
    assert log.status == "cancelled", (log.status, output[-3000:])


def test_each_prompt_draws_its_own_noise_and_keeps_it_across_alphas_and_methods(tiny_model_dir, tiny_sae_dir):
    """Near-identical prompts sampled hot used to give the same text: one seed meant one noise for every prompt."""
    from steering.sampling import prompt_seed

    api = _provider(tiny_model_dir, tiny_sae_dir)
    pairs = [("Describe the sea.", "Describe the sea!"), ("Explain a bicycle.", "Explain a bicycle!")]

    async def scenario():
        hot = {"temperature": 10.0, "seed": 16}
        replies = {}
        for prompt in [p for pair in pairs for p in pair]:
            replies[prompt] = await _reply(api, prompt, 0.0, **hot)
            # the same prompt at alpha 0 under another method, and at a tiny alpha: the same noise
            steering = {"alpha": 0.0, "method": "add_renorm", "feature": FEATURE, "vector": "sae"}
            output, _ = await api.generate(
                [ChatMessageUser(content=prompt)], tools=[], tool_choice="none",
                config=GenerateConfig(max_tokens=12, extra_body={"steering": steering}, **hot),
            )  # fmt: skip
            assert output.completion == replies[prompt]
        return replies

    replies = asyncio.run(scenario())
    assert all(replies[a] != replies[b] for a, b in pairs), replies
    messages = [{"role": "user", "content": "Describe the sea."}]
    assert prompt_seed(16, messages) == prompt_seed(16, [dict(m) for m in messages]) != prompt_seed(17, messages)
    assert prompt_seed(None, messages) is None and 0 <= prompt_seed(16, messages) < 2**31


def test_a_grader_down_from_the_start_fails_at_preflight_before_any_generation(tiny_model_dir, tiny_sae_dir, tmp_path,
                                                                                monkeypatch):  # fmt: skip
    monkeypatch.setenv("STUB_GRADER_DOWN", "1")
    generated_before = SteeredModelAPI.generated_total
    (log,) = inspect_eval(
        french(alphas=[0, 40], n_prompts=2, feature=FEATURE, max_tokens=8),
        model=f"steered/{tiny_model_dir}", model_args={"sae": str(tiny_sae_dir), "layer": 2},
        model_roles={"grader": "stubgrader/outage"}, log_dir=str(tmp_path / "logs"), display="none",
    )  # fmt: skip
    assert log.status == "error"
    assert "the grader role (stubgrader/outage) did not answer a preflight request" in log.error.message
    assert SteeredModelAPI.generated_total == generated_before, "steered replies were generated for a dead grader"
