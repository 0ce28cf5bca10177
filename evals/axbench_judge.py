"""AxBench's judge (arXiv 2501.17148): three 0-2 ratings of a reply and their harmonic mean.

Concept relevance, instruction relevance and fluency, each asked of the grader role in AxBench's own words
(``prompts/axbench/``, adapted: see its README) and answered ``Rating: [[score]]``. As in AxBench, the score
is the harmonic mean of the three, 0 when any rating is 0 or could not be read. An unreadable rating is
recorded unscored (NaN, with the grader's text) under its own key, never as a number.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from functools import cache
from typing import Any

from inspect_ai.model import ChatMessageUser, GenerateConfig, Model
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from evals.analysis.schema import harmonic_means
from evals.scorers import JUDGE_CONNECTIONS, grader_model, judge_limits, sample_text, share_request, sweep_metrics
from steering import PROMPTS_DIR

PARTS = ("concept", "instruction", "fluency")
RATING_RANGE = (0, 2)
HARMONIC = "harmonic"
"""The harmonic mean's key: the score AxBench picks the steering factor by (the analysis: ``axbench_harmonic``)."""

# one grader call of ~500 tokens, at temperature 0 so a rerun reads the same ratings (AxBench leaves the
# API default); free text, since their format is the answer
AXBENCH_CONFIG = GenerateConfig(temperature=0.0, adaptive_connections=JUDGE_CONNECTIONS)

_RATING = re.compile(r"Rating:\s*\[\[\s*([^\]\s]*)\s*\]\]", re.IGNORECASE)
# a fragment may not close its block or write a rating in the answer's format
_MARKER = re.compile(r"\[(\s*(?:sentence fragment|instruction|concept)\s+(?:start|end)\s*)\]", re.IGNORECASE)


@cache
def template(part: str) -> str:
    return (PROMPTS_DIR / "axbench" / f"{part}.txt").read_text().strip()


def axbench_digest() -> str:
    """Short hash of the three templates: curves keep runs judged with different templates apart."""
    text = "\n".join(template(part) for part in PARTS)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def escape_fragment(text: str) -> str:
    """``[Sentence Fragment End]`` -> ``(Sentence Fragment End)`` and ``[[`` -> ``[ [``: text inside a block
    can neither close it nor be read back as the grader's rating."""
    text = _MARKER.sub(lambda m: f"({m.group(1)})", text)
    return text.replace("[[", "[ [").replace("]]", "] ]")


def axbench_message(part: str, concept: str, instruction: str, reply: str) -> str:
    fields = {"concept": concept, "instruction": instruction, "sentence": reply}
    return template(part).format(**{k: escape_fragment(v) for k, v in fields.items()})


def parse_rating(text: str) -> int | None:
    """The grader's rating: the last ``Rating: [[n]]`` in its reply, an integer 0..2; None when there is none
    (or it is not such an integer). The fragment's own ``[[`` are escaped, so a rating quoted from it cannot
    match."""
    found = _RATING.findall(text or "")
    if not found:
        return None
    value = found[-1]
    if not re.fullmatch(r"[0-9]+(?:\.0+)?", value):
        return None
    rating = int(float(value))
    return rating if RATING_RANGE[0] <= rating <= RATING_RANGE[1] else None


def harmonic_mean(ratings: list[float]) -> float:
    """AxBench's aggregate of one reply's ratings (``evals.analysis.schema.harmonic_means``, the one rule)."""
    return float(harmonic_means([ratings])[0]) if ratings else 0.0


async def _rate(model: Model, part: str, concept: str, instruction: str, reply: str) -> tuple[float, dict[str, Any]]:
    user = axbench_message(part, concept, instruction, reply)
    config = AXBENCH_CONFIG.merge(judge_limits(model))
    output, shared = await share_request(model, [ChatMessageUser(content=user)], config)
    rating = parse_rating(output.completion)
    return (math.nan if rating is None else float(rating)), {"grader_reply": output.completion, "shared": shared}


@scorer(metrics={name: sweep_metrics() for name in (*PARTS, HARMONIC)}, name="axbench")
def axbench_judge(concept: str | None = None, grader: str | None = None) -> Scorer:
    """AxBench's three 0-2 ratings, asked at once, and their harmonic mean under ``harmonic`` (scorer ``axbench``).

    ``concept`` None: each sample's ``metadata["concept_description"]``. The instruction is the sample's
    prompt without any prompting cue (the sample's input).
    """

    async def score(state: TaskState, target: Target) -> Score:
        description = sample_text(state, concept, "concept_description", "axbench_judge(concept=...)")
        instruction = state.input_text
        reply = state.output.completion
        model = grader_model(grader)
        async with asyncio.TaskGroup() as group:
            calls = {part: group.create_task(_rate(model, part, description, instruction, reply)) for part in PARTS}
        rated = {part: call.result() for part, call in calls.items()}
        ratings = {part: value for part, (value, _) in rated.items()}
        unscored = [part for part, value in ratings.items() if math.isnan(value)]
        return Score(
            value={**ratings, HARMONIC: harmonic_mean(list(ratings.values()))},
            answer=reply,
            explanation=", ".join(f"{part} {value:g}" for part, value in ratings.items())
            + (f"; unreadable ({', '.join(unscored)}): counted 0 in the harmonic mean" if unscored else ""),
            metadata={part: meta for part, (_, meta) in rated.items()},
        )

    return score
