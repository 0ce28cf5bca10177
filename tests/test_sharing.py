"""One generation per distinct request (steering.provider.sharing) and one grader request per distinct judge
call in flight (evals.scorers), with the replies exactly those of requests made alone."""

from __future__ import annotations

import asyncio
import time

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

from evals.analysis.work import work_counts
from evals.french import french
from steering.provider.model_api import SteeredModelAPI, model_label

FEATURE = 5


def _provider(model_dir, sae_dir, **args) -> SteeredModelAPI:
    return SteeredModelAPI(str(model_dir), sae=str(sae_dir), **{"layer": 2, **args})


async def _call(api: SteeredModelAPI, prompt: str, alpha: float | None, method: str = "add", feature=FEATURE, **config):
    steering = None if alpha is None else {"alpha": alpha, "method": method, "feature": feature, "vector": "sae"}
    body = {"steering": steering} if steering else None
    output, call = await api.generate(
        [ChatMessageUser(content=prompt)], tools=[], tool_choice="none",
        config=GenerateConfig(**{"max_tokens": 10, "extra_body": body, **config}),
    )  # fmt: skip
    return output.completion, call.response["shared"]


def test_identical_requests_in_flight_share_one_generation_with_the_same_reply(tiny_model_dir, tiny_sae_dir):
    api = _provider(tiny_model_dir, tiny_sae_dir)
    alone = _provider(tiny_model_dir, tiny_sae_dir, share=False)

    async def scenario():
        before = SteeredModelAPI.generated_total
        together = await asyncio.gather(
            _call(api, "Tell me about the sea.", 0.0, "add"),
            _call(api, "Tell me about the sea.", 0.0, "add_renorm"),  # the identity at alpha 0 too
            _call(api, "Tell me about the sea.", 0.0, "add", feature=FEATURE + 1),  # whatever the direction
            _call(api, "Tell me about the sea.", None),  # and unsteered
            _call(api, "Tell me about the sea.", 30.0, "add"),
            _call(api, "Tell me about the sea.", 30.0, "add"),  # the same spec twice
        )
        generated = SteeredModelAPI.generated_total - before
        reference = [
            await _call(alone, "Tell me about the sea.", 0.0, "add_renorm"),
            await _call(alone, "Tell me about the sea.", 30.0, "add"),
        ]
        return together, generated, reference

    together, generated, reference = asyncio.run(scenario())
    assert generated == 2
    assert [shared for _, shared in together].count(True) == 4
    assert together[0][0] == together[1][0] == together[2][0] == together[3][0] == reference[0][0]
    assert together[4][0] == together[5][0] == reference[1][0]
    assert together[0][0] != together[4][0]


def test_unseeded_sampling_is_never_shared(tiny_model_dir, tiny_sae_dir):
    api = _provider(tiny_model_dir, tiny_sae_dir)

    async def scenario():
        before = SteeredModelAPI.generated_total
        hot = {"temperature": 1.0}
        replies = await asyncio.gather(*[_call(api, "Say something.", 0.0, **hot) for _ in range(3)])
        return replies, SteeredModelAPI.generated_total - before

    replies, generated = asyncio.run(scenario())
    assert generated == 3 and not any(shared for _, shared in replies)


def test_cancelling_one_caller_leaves_the_other_its_reply(tiny_model_dir, tiny_sae_dir):
    api = _provider(tiny_model_dir, tiny_sae_dir, batch_wait=0.3)

    async def scenario():
        first = asyncio.ensure_future(_call(api, "A shared prompt.", 20.0, max_tokens=40))
        second = asyncio.ensure_future(_call(api, "A shared prompt.", 20.0, max_tokens=40))
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await asyncio.wait_for(second, timeout=60)

    text, shared = asyncio.run(scenario())
    assert text and shared is False  # the only caller that received it


def test_a_cancelled_callers_retry_takes_the_reply_another_caller_received(tiny_model_dir, tiny_sae_dir):
    """Two rows share a generation (alpha 0 under add and add_renorm); --attempt-timeout cancels one of them,
    the other receives the reply: the cancelled row's retry must still not generate it again."""
    api = _provider(tiny_model_dir, tiny_sae_dir, batch_wait=0.3)

    async def scenario():
        await _call(api, "warm up", 0.0)
        before = SteeredModelAPI.generated_total
        first = asyncio.ensure_future(_call(api, "Another shared prompt.", 0.0, max_tokens=40))
        second = asyncio.ensure_future(_call(api, "Another shared prompt.", 0.0, method="add_renorm", max_tokens=40))
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        received = await asyncio.wait_for(second, timeout=60)
        retry = await asyncio.wait_for(_call(api, "Another shared prompt.", 0.0, max_tokens=40), timeout=60)
        return received, retry, SteeredModelAPI.generated_total - before

    (text, shared), (again, shared_again), generated = asyncio.run(scenario())
    assert generated == 1 and again == text and shared is False and shared_again is True


def test_a_retry_takes_what_its_cancelled_attempt_generated(tiny_model_dir, tiny_sae_dir):
    """--attempt-timeout cancels a call mid-generation; the retry must not generate the reply again."""
    api = _provider(tiny_model_dir, tiny_sae_dir, batch_wait=0)

    async def scenario():
        await _call(api, "warm up", 0.0)  # weights loaded, so the cancel lands mid-generation
        before = SteeredModelAPI.generated_total
        attempt = asyncio.ensure_future(_call(api, "A long reply, please.", 10.0, max_tokens=300))
        await asyncio.sleep(0.3)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        retry = await asyncio.wait_for(_call(api, "A long reply, please.", 10.0, max_tokens=300), timeout=120)
        return retry, SteeredModelAPI.generated_total - before

    (text, shared), generated = asyncio.run(scenario())
    assert generated == 1 and text and shared is False


def test_identical_judge_requests_in_flight_are_sent_once(tiny_model_dir, tiny_sae_dir, tmp_path, monkeypatch):
    """The same reply under two methods at alpha 0 asks the grader the same question at the same moment."""
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    grader = get_model("stubgrader/length", latency=0.3, jitter=0.0)
    (log,) = inspect_eval(
        french(alphas=[0], n_prompts=3, feature=FEATURE, max_tokens=8, prompting=False),
        model=f"steered/{tiny_model_dir}", model_args={"sae": str(tiny_sae_dir), "layer": 2},
        model_roles={"grader": grader}, log_dir=str(tmp_path / "logs"), display="none",
    )  # fmt: skip
    counts = work_counts(read_eval_log(log.location))
    assert log.status == "success"
    assert (counts.generations, counts.generations_shared) == (3, 3)
    # 6 samples x 2 judges = 12 calls for 3 distinct replies: 6 distinct questions, + the preflight
    assert counts.grader_requests + counts.grader_cached == 6 + 1 and counts.grader_shared == 6 - counts.grader_cached


def test_a_model_path_is_named_the_same_however_it_is_spelled(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dotted = f"{tiny_model_dir.parent}/../{tiny_model_dir.parent.name}/./{tiny_model_dir.name}"
    assert model_label(dotted) == model_label(str(tiny_model_dir)) == model_label(f"{tiny_model_dir}/")
    assert ".." not in model_label(dotted) and not model_label(dotted).startswith("/")
    assert model_label("google/gemma-2-2b-it") == "google/gemma-2-2b-it"
    (tmp_path / "models" / "m").mkdir(parents=True)
    assert model_label("./models/../models/m") == "models/m"


def test_a_dotted_model_path_still_caches(tiny_model_dir, tiny_sae_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    dotted = f"{tiny_model_dir.parent}/../{tiny_model_dir.parent.name}/{tiny_model_dir.name}"
    (log,) = inspect_eval(
        french(alphas=[0], methods="add", n_prompts=1, feature=FEATURE, max_tokens=4, judge=False, prompting=False),
        model=f"steered/{dotted}", model_args={"sae": str(tiny_sae_dir), "layer": 2},
        log_dir=str(tmp_path / "logs"), display="none",
    )  # fmt: skip
    events = [e for s in log.samples for e in s.events if e.event == "model"]
    assert log.status == "success" and events and all(e.cache == "write" for e in events)


class _Work:
    """A coroutine's work, held until released, counting its runs and whether it was cancelled."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.release, self.runs, self.cancelled, self.fail = asyncio.Event(), 0, False, fail

    async def __call__(self, *args, **kwargs):
        self.runs += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.fail is not None:
            raise self.fail
        return "answer"


def _grader(work: _Work):
    from types import SimpleNamespace

    return SimpleNamespace(name="stub", api=SimpleNamespace(base_url=None), config=GenerateConfig(), generate=work)


async def _share(sharing, work):
    from steering.provider.sharing import coroutine_submit

    return await sharing.result("key", coroutine_submit(work))


async def _started(*tasks):
    await asyncio.sleep(0.01)
    return tasks


def _callers():
    """The three users of the one sharing helper, each as (start a caller, work) on a fresh helper."""
    from evals import preflight, scorers
    from steering.provider.sharing import RequestSharing

    def provider(work):
        sharing = RequestSharing()
        return lambda: _share(sharing, work)

    def judge(work):
        from inspect_ai.model import ChatMessageSystem, ChatMessageUser

        scorers._IN_FLIGHT = RequestSharing()
        messages = [ChatMessageSystem(content="system"), ChatMessageUser(content="user")]
        return lambda: scorers.share_request(_grader(work), messages, GenerateConfig())

    def preflight_check(work):
        preflight._CHECKED = RequestSharing(keep_all=True, expiry=None)
        return lambda: preflight.check_grader(_grader(work))

    return {"provider": provider, "judge": judge, "preflight": preflight_check}


@pytest.mark.parametrize("caller", ["provider", "judge", "preflight"])
def test_the_creator_cancelled_leaves_the_others_their_result(caller):
    async def main():
        work = _Work()
        start = _callers()[caller](work)
        creator, other = await _started(asyncio.create_task(start()), asyncio.create_task(start()))
        creator.cancel()
        await asyncio.sleep(0.01)
        work.release.set()
        result = await asyncio.wait_for(other, 5)
        return work, creator, result

    work, creator, result = asyncio.run(main())
    assert creator.cancelled() and work.runs == 1 and not work.cancelled
    assert result in (("answer", False), None)  # the judge's (output, shared); the preflight returns nothing


@pytest.mark.parametrize("caller", ["provider", "judge", "preflight"])
def test_all_callers_cancelled_stop_the_work_and_a_retry_runs_it_again(caller):
    async def main():
        work = _Work()
        start = _callers()[caller](work)
        tasks = await _started(asyncio.create_task(start()), asyncio.create_task(start()))
        for task in tasks:
            task.cancel()
        await asyncio.sleep(0.01)
        stopped = work.cancelled
        work.release.set()
        retry = await asyncio.wait_for(start(), 5)
        return stopped, work.runs, retry

    stopped, runs, retry = asyncio.run(main())
    assert stopped and runs == 2 and retry in (("answer", False), None)


def test_a_failed_preflight_fails_every_later_sample_without_asking_again():
    from evals.preflight import GraderUnavailable

    async def main():
        work = _Work(fail=RuntimeError("401 unauthorised"))
        work.release.set()
        start = _callers()["preflight"](work)
        errors = []
        for _ in range(3):
            with pytest.raises(GraderUnavailable, match="401 unauthorised") as error:
                await asyncio.wait_for(start(), 5)
            errors.append(error.value)
        return work.runs

    assert asyncio.run(main()) == 1


def test_samples_reused_from_an_interrupted_run_are_not_counted_as_its_work(tiny_model_dir, tiny_sae_dir, tmp_path):
    """A retried run copies the finished samples of the log it resumes, with their model events: the work line
    counts them apart, and only the samples it generated as this run's generations."""
    from inspect_ai import eval_retry
    from inspect_ai.log import EvalError, write_eval_log

    (log,) = inspect_eval(
        french(
            alphas=[0, 40],
            methods="add",
            n_prompts=2,
            feature=FEATURE,
            max_tokens=6,
            judge=False,
            prompting=False,
            cache=False,
        ),  # fmt: skip
        model=f"steered/{tiny_model_dir}",
        # the log names a folder outside the working directory by a label: a retry finds it through model_path
        model_args={"sae": str(tiny_sae_dir), "layer": 2, "model_path": str(tiny_model_dir)},
        log_dir=str(tmp_path),
        display="none",
    )
    assert work_counts(read_eval_log(log.location)).generations == 4
    interrupted = read_eval_log(log.location)
    for sample in interrupted.samples[:2]:
        sample.error = EvalError(message="killed", traceback="", traceback_ansi="")
    interrupted.status = "error"
    write_eval_log(interrupted, log.location)
    # Inspect stamps a run's start in whole seconds: a retry begun in the same second as the first run's samples
    # (a sub-second run on a tiny model) could not tell them from its own
    time.sleep(1.1)
    (resumed,) = eval_retry(log.location, log_dir=str(tmp_path / "resumed"), display="none")
    assert resumed.status == "success"
    counts = work_counts(read_eval_log(resumed.location))
    assert (counts.generations, counts.reused_samples) == (2, 2)
    assert "2 samples reused from an earlier run" in counts.line()
