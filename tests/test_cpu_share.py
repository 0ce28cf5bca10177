"""On a CPU, replies are scored by the reference model only while nothing generates (steering.cpu_share)."""

from __future__ import annotations

import asyncio

import pytest
from inspect_ai.model import ChatMessageUser, GenerateConfig

from evals.metrics.batching import batched
from steering import cpu_share
from steering.cpu_share import cpu_generating, generating_on_cpu
from steering.provider import model_api
from steering.provider.model_api import SteeredModelAPI


def test_a_reference_scorer_on_the_cpu_waits_until_generation_is_done():
    scored_while_generating: list[int] = []

    def reports(texts, prompts, reference):
        scored_while_generating.append(cpu_generating())
        return [len(t) for t in texts]

    async def scenario() -> list:
        with generating_on_cpu():
            scores = [asyncio.create_task(batched(reports, text, None, "ref")) for text in ("ab", "abc")]
            await asyncio.sleep(3 * cpu_share.POLL_SECONDS)
            assert not scored_while_generating and not any(s.done() for s in scores)
        return await asyncio.gather(*scores)

    assert asyncio.run(scenario()) == [2, 3]
    assert scored_while_generating == [0]  # both replies in one pass, after the generation ended


def test_scorers_off_the_cpu_do_not_wait():
    async def scenario() -> int:
        with generating_on_cpu():
            await cpu_share.after_cpu_generation(on_cpu=False)
            return cpu_generating()

    assert asyncio.run(scenario()) == 1


def test_the_provider_marks_its_cpu_generation_and_unmarks_it_on_error(tiny_model_dir, tiny_sae_dir, monkeypatch):
    seen: list[int] = []
    real = model_api.generate_in_batches

    def spy(*args, **kwargs):
        seen.append(cpu_generating())
        if len(seen) == 2:
            raise RuntimeError("the engine failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(model_api, "generate_in_batches", spy)
    api = SteeredModelAPI(str(tiny_model_dir), sae=str(tiny_sae_dir), layer=2, device="cpu")

    async def call(prompt: str) -> None:
        await api.generate([ChatMessageUser(content=prompt)], [], "none", GenerateConfig(max_tokens=4))

    asyncio.run(call("Hello"))
    with pytest.raises(RuntimeError, match="the engine failed"):
        asyncio.run(call("Again"))
    assert seen == [1, 1] and cpu_generating() == 0
