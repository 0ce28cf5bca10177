"""The judges under real API conditions: Inspect's own openai/ provider and the openai SDK talking HTTP to a
local server (tests/openai_server.py) that checks each request as strict mode does and misbehaves on cue.

Each case asserts counts: samples scored, unscored and errored; steered replies generated and shared; grader
requests. A French sweep of 2 prompts x alphas (0, 40) x 2 methods plus 2 prompting samples is 10 samples,
8 distinct replies (alpha 0 is one reply under both methods) and 20 judge calls.
"""

from __future__ import annotations

import math
import socket
import time

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog, read_eval_log
from inspect_ai.model import GenerateConfig, get_model
from openai_server import OpenAIServer, Reply, strict_schema_errors

from evals.analysis.work import WorkCounts, work_counts
from evals.french import french

FEATURE = 5
SAMPLES, DISTINCT_REPLIES = 10, 8
GRADER = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def server():
    running = OpenAIServer().start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _openai_env(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))  # nothing answered from an earlier case
    # Inspect's back-off starts at 3 s and doubles; the cases test what is retried, not how long it waits
    import inspect_ai.model._retry as retry
    from tenacity import wait_fixed

    monkeypatch.setattr(retry, "wait_exponential_jitter", lambda **_: wait_fixed(0.05))


def _sweep(model_dir, sae_dir, tmp_path, grader=GRADER, max_tokens: int = 8, **eval_args) -> tuple[EvalLog, float]:
    started = time.monotonic()
    (log,) = inspect_eval(
        french(alphas=[0, 40], n_prompts=2, feature=FEATURE, max_tokens=max_tokens),
        model=f"steered/{model_dir}",
        model_args={"sae": str(sae_dir), "layer": 2},
        model_roles={"grader": grader},
        log_dir=str(tmp_path / "logs"),
        display="none",
        **eval_args,
    )
    return (read_eval_log(log.location) if log.samples is None else log), time.monotonic() - started


def _outcomes(log: EvalLog) -> tuple[int, int, int]:
    """(scored, unscored, errored) samples: scored means both judge grades are numbers."""
    scored = unscored = errored = 0
    for sample in log.samples or []:
        if sample.error is not None:
            errored += 1
            continue
        grades = list(sample.scores["judges"].value.values())
        if all(isinstance(g, int | float) and not math.isnan(g) for g in grades):
            scored += 1
        else:
            unscored += 1
    return scored, unscored, errored


def _check_work(log: EvalLog, server: OpenAIServer, preflight: int = 1) -> WorkCounts:
    counts = work_counts(log)
    assert counts.generations == DISTINCT_REPLIES and counts.generations_shared == SAMPLES - DISTINCT_REPLIES, counts
    # every judge call is answered (one model event), joins an identical one in flight, or, when the identical
    # one finished first, is read from Inspect's cache
    assert counts.grader_requests + counts.grader_shared + counts.grader_cached == 2 * SAMPLES + preflight, counts
    return counts


def _grader_replies(log: EvalLog) -> list[str]:
    return [s.scores["judges"].metadata[name]["grader_reply"] for s in log.samples for name in ("behavior", "fluency")]


def test_healthy_every_grade_is_read_back_and_every_request_is_strict(tiny_model_dir, tiny_sae_dir, tmp_path, server):
    server.reset(lambda index, body: Reply(content=f'{{"reasoning": "ok", "score": {index % 10 + 1}}}'))
    log, _ = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path)
    assert log.status == "success" and _outcomes(log) == (SAMPLES, 0, 0)
    counts = _check_work(log, server)
    assert server.rejected == [] and server.preflight_requests == 1
    assert counts.grader_requests == server.judge_requests + 1
    grades = {grade for s in log.samples for grade in s.scores["judges"].value.values()}
    assert grades <= set(range(1, 11)) and len(grades) > 1


def test_rate_limits_and_server_errors_are_absorbed_and_a_rate_limited_preflight_passes(tiny_model_dir, tiny_sae_dir,
                                                                                         tmp_path, server):  # fmt: skip
    def flaky(index: int, body: dict) -> Reply:  # index -1: the preflight
        if 0 <= index < 3 or index == -1:
            return Reply(status=429, headers={"Retry-After": "0"})
        if 0 <= index < 6:
            return Reply(status=500)
        return Reply()

    server.reset(flaky)
    log, elapsed = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path)
    assert log.status == "success" and _outcomes(log) == (SAMPLES, 0, 0)
    counts = _check_work(log, server, preflight=0)  # the rate-limited preflight passed without an answer
    assert counts.failed_attempts >= 2 and elapsed < 60


@pytest.mark.parametrize(
    "reply",
    [
        Reply(content="Seven out of ten: mostly French."),
        Reply(content='{"reasoning": "very French", "score": 11}'),
        Reply(content='{"reasoning": "very French", "score": "7"}'),
        Reply(content=None, refusal="I can't help with grading this."),
        Reply(content='{"reasoning": "The reply is mostly Fren', finish_reason="length"),
    ],
    ids=["non-json", "score-11", "score-string", "refusal", "cut-off-at-length"],
)
def test_a_reply_that_is_not_a_grade_is_unscored_with_its_text(reply, tiny_model_dir, tiny_sae_dir, tmp_path, server):
    server.reset(lambda index, body: reply)
    log, _ = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path)
    assert log.status == "success" and _outcomes(log) == (0, SAMPLES, 0)
    _check_work(log, server)
    expected = reply.content or reply.refusal
    assert all(expected in (text or "") for text in _grader_replies(log)), _grader_replies(log)[:2]


def test_an_unauthorised_grader_fails_at_preflight_with_nothing_generated(tiny_model_dir, tiny_sae_dir, tmp_path,
                                                                            server):  # fmt: skip
    server.reset(lambda index, body: Reply(status=401, raw='{"error": {"message": "Incorrect API key provided"}}'))
    log, elapsed = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path)
    assert log.status == "error" and elapsed < 30
    assert f"the grader role ({GRADER} at {server.base_url}) did not answer a preflight request" in log.error.message
    assert "sk-test" not in log.error.message and "sk-test" not in log.error.traceback
    assert work_counts(log).generations == 0 and server.judge_requests == 0


def test_a_refused_connection_fails_at_preflight_within_seconds(tiny_model_dir, tiny_sae_dir, tmp_path, monkeypatch):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", closed)
    log, elapsed = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path)
    assert log.status == "error" and elapsed < 30, elapsed
    assert f"the grader role ({GRADER} at {closed}) did not answer" in log.error.message
    assert work_counts(log).generations == 0


def test_a_grader_slower_than_its_timeout_is_retried_and_nothing_is_regenerated(tiny_model_dir, tiny_sae_dir,
                                                                                 tmp_path, server):  # fmt: skip
    server.reset(lambda index, body: Reply(delay=3.0) if 0 <= index < 2 else Reply())
    slow_grader = get_model(GRADER, config=GenerateConfig(attempt_timeout=1))  # the role form binds it to the judge
    log, _ = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path, grader=slow_grader)
    assert log.status == "success" and _outcomes(log) == (SAMPLES, 0, 0)
    counts = _check_work(log, server)
    # the two slow replies time out and are retried; on a loaded machine a normal reply may pass its 1 s too
    # (seen once in a clean-clone run: 3 failed attempts), and each failed attempt sent at most one request
    assert counts.failed_attempts >= 2
    answered = counts.grader_requests - 1
    assert answered + 2 <= server.judge_requests <= answered + counts.failed_attempts


def test_attempt_timeout_on_the_command_line_regenerates_no_steered_reply(tiny_model_dir, tiny_sae_dir, tmp_path,
                                                                           server):  # fmt: skip
    """--attempt-timeout reaches the steered model too: a cancelled attempt's reply is kept for its retry."""
    server.reset()
    log, _ = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path, max_tokens=300, attempt_timeout=1)
    assert log.status == "success" and _outcomes(log) == (SAMPLES, 0, 0)
    counts = work_counts(log)
    assert counts.generations == DISTINCT_REPLIES and counts.failed_attempts >= SAMPLES, counts
    assert counts.generations_shared == SAMPLES - DISTINCT_REPLIES


def test_a_server_that_rejects_minimum_and_maximum_still_grades_everything(tiny_model_dir, tiny_sae_dir, tmp_path,
                                                                            server):  # fmt: skip
    server.reset(reject_bounds=True)
    log, _ = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path)
    assert log.status == "success" and _outcomes(log) == (SAMPLES, 0, 0) and server.rejected == []


def test_the_strict_checker_refuses_what_strict_mode_refuses():
    loose = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1}}}
    assert len(strict_schema_errors(loose, forbid=("minimum",))) == 3


def test_the_axbench_preset_reads_ratings_from_a_real_openai_client(tiny_model_dir, tiny_sae_dir, tmp_path, server):
    """AxBench's judges over HTTP: free-text requests (no response schema), ``Rating: [[n]]`` read back."""
    import json

    from evals.axbench_judge import harmonic_mean
    from evals.suite import suite

    server.reset()
    concepts = tmp_path / "c.jsonl"
    concepts.write_text(json.dumps({
        "name": "french", "criterion": "The text is in French.", "instruction": "Answer in French.", "language": "fr",
        "description": "the French language", "directions": [{"vector": "sae", "feature": FEATURE}],
    }) + "\n")  # fmt: skip
    task = suite(concepts=str(concepts), protocol="axbench", alphas=[0, 40], methods="add", n_prompts=2,
                 max_tokens=8, sae_width=256)  # fmt: skip
    (log,) = inspect_eval(
        task, model=f"steered/{tiny_model_dir}", model_args={"sae": str(tiny_sae_dir), "layer": 2},
        model_roles={"grader": GRADER}, log_dir=str(tmp_path / "logs"), display="none",
    )  # fmt: skip
    assert log.status == "success", log.error
    counts = work_counts(log)
    # three questions per sample: each answered, joined to an identical one in flight, or read from the cache
    assert counts.grader_requests + counts.grader_shared + counts.grader_cached == 3 * len(log.samples) + 1 == 19
    assert server.rejected == [] and server.judge_requests == counts.grader_requests - 1
    seen = set()
    for sample in log.samples:
        value = sample.scores["axbench"].value
        ratings = [value[part] for part in ("concept", "instruction", "fluency")]
        assert set(ratings) <= {0.0, 1.0, 2.0} and value["harmonic"] == harmonic_mean(ratings)
        seen |= set(ratings)
    assert seen == {0.0, 1.0, 2.0}
