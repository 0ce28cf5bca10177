"""``stubgrader/<mode>``: an offline grader for tests and demos, never a stand-in for a real judge.

Modes: ``length`` grades ``min(10, 1 + len(reply) // 10)`` (AxBench's 0-2 ratings: ``length_rating``);
``garbage`` answers with no grade; ``flaky`` fails the first call for each prompt, then grades like ``length``;
``outage`` fails (not retried) while ``STUB_GRADER_DOWN`` is set, then grades like ``length``. Any
mode refuses a call that carries steering, which a grader must never receive. Every
call's config is appended to ``RECEIVED_CONFIGS`` so tests can see what a grader was asked.

``-M latency=0.8 -M jitter=0.2`` make every call take latency +- jitter seconds, like an API,
so the whole pipeline can be timed offline; ``IN_FLIGHT`` records how many calls overlap.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

# our judge template's reply block, or the SAE-TS paper's completion block (evals.sae_ts_paper)
_REPLY = re.compile(r"<reply>\n(.*)\n</reply>|Completion:\n\"\"\"\n(.*)\n\"\"\"\n", re.DOTALL)
# AxBench's fragment block (evals.axbench_judge): answered in its format, "Rating: [[n]]"
_FRAGMENT = re.compile(r"\[Sentence Fragment Start\]\n(.*)\n\[Sentence Fragment End\]", re.DOTALL)
MODES = ("length", "garbage", "flaky", "outage")
DEFAULT_CONFIG = GenerateConfig()
RECEIVED_CONFIGS: list[GenerateConfig] = []


class InFlight:
    """Grader calls running now, and the most that ever ran at once."""

    now = 0
    peak = 0

    @classmethod
    def reset(cls) -> None:
        cls.now = cls.peak = 0


class StubGraderError(RuntimeError):
    """A transient failure Inspect should retry."""


def length_grade(reply: str) -> int:
    return min(10, 1 + len(reply) // 10)


def length_rating(reply: str) -> int:
    """AxBench's 0-2 scale: 0 under 20 characters, 1 under 60, else 2."""
    return 0 if len(reply) < 20 else 1 if len(reply) < 60 else 2


class StubGraderAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = DEFAULT_CONFIG,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        if model_name not in MODES:
            raise ValueError(f"unknown stubgrader mode {model_name!r}: use one of {list(MODES)}")
        unknown = sorted(set(model_args) - {"latency", "jitter"})
        if unknown:
            raise ValueError(f"unknown stubgrader args {unknown}: valid are ['jitter', 'latency']")
        self.latency, self.jitter = float(model_args.get("latency", 0.0)), float(model_args.get("jitter", 0.0))
        if not 0 <= self.jitter <= self.latency or self.latency > 60:
            raise ValueError(f"stubgrader needs 0 <= jitter <= latency <= 60, got {self.latency}, {self.jitter}")
        self._random = random.Random(0)
        self._failed: set[str] = set()

    async def generate(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        RECEIVED_CONFIGS.append(config)
        InFlight.now += 1
        InFlight.peak = max(InFlight.peak, InFlight.now)
        try:
            if self.latency:
                await asyncio.sleep(self.latency + self._random.uniform(-self.jitter, self.jitter))
            return self._answer(input, config)
        finally:
            InFlight.now -= 1

    def _answer(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        if config.extra_body:
            raise AssertionError(f"the grader received extra_body {config.extra_body}")
        user = input[-1].text
        if self.model_name == "outage" and os.environ.get("STUB_GRADER_DOWN"):
            raise RuntimeError("stub grader: the grading service is down")
        if self.model_name == "flaky" and user not in self._failed:
            self._failed.add(user)
            raise StubGraderError("stub grader: transient failure")
        match = _REPLY.search(user)
        reply = (match.group(1) or match.group(2) or "") if match else ""
        fragment = _FRAGMENT.search(user)
        if self.model_name == "garbage":
            text = "I cannot decide on a number for this one."
        elif fragment is not None:
            shown = fragment.group(1)
            text = f"The fragment has {len(shown)} characters.\n\nRating: [[{length_rating(shown)}]]"
        else:
            grade = length_grade(reply)
            text = json.dumps({"reasoning": f"the reply has {len(reply)} characters", "score": grade})
        output = ModelOutput.from_content(model=self.model_name, content=text)
        output.usage = ModelUsage(
            input_tokens=len(user.split()),
            output_tokens=len(text.split()),
            total_tokens=len(user.split()) + len(text.split()),
        )
        return output

    def should_retry(self, ex: Exception) -> bool:
        return isinstance(ex, StubGraderError)

    def retry_wait(self) -> Any:
        from tenacity import wait_fixed

        return wait_fixed(0.01)
