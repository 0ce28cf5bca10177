"""Scorers: 10-point LLM-judge grades (fluency, a behaviour) and deterministic cross-checks."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, Model, get_model
from inspect_ai.scorer import Metric, Score, Scorer, Target, grouped, mean, scorer, stderr
from inspect_ai.solver import TaskState

from evals.judge import criteria, judge_messages, parse_grade

DEFAULT_GRADER = "openai/gpt-4o-mini"


def sweep_metrics() -> list[Metric | dict[str, Any]]:
    """Overall mean and stderr, plus per-alpha and per-method means for ``inspect view``."""
    return [
        mean(),
        stderr(),
        grouped(mean(), "alpha", all=False, name_template="alpha={group_name}"),
        grouped(mean(), "method", all=False, name_template="{group_name}"),
    ]


def _grader(grader: str | Model | None) -> Model:
    # the default lives here, not in Task(model_roles=...), so runs that bind another grader need no OpenAI key
    return get_model(grader) if grader is not None else get_model(role="grader", default=DEFAULT_GRADER)


async def _judge(state: TaskState, criterion: str, grader: str | Model | None) -> Score:
    reply = state.output.completion
    system, user = judge_messages(criterion, state.input_text, reply)
    output = await _grader(grader).generate(
        [ChatMessageSystem(content=system), ChatMessageUser(content=user)],
        config=GenerateConfig(temperature=0.0),
        cache=True,
    )
    grade, reasoning = parse_grade(output.completion)
    metadata = {"criterion": criterion, "grader_reply": output.completion}
    if grade is None:
        return Score.unscored(
            reason="the grader's reply has no grade from 1 to 10",
            answer=reply,
            explanation=output.completion,
            metadata=metadata,
        )
    return Score(value=grade, answer=reply, explanation=reasoning, metadata=metadata)


@scorer(metrics=sweep_metrics())
def fluency(grader: str | None = None) -> Scorer:
    """1-10 judge grade of coherence and grammar (SAE-TS's coherence criterion)."""

    async def score(state: TaskState, target: Target) -> Score:
        return await _judge(state, criteria()["fluency"], grader)

    return score


@scorer(metrics=sweep_metrics())
def behavior(criterion: str, grader: str | None = None) -> Scorer:
    """1-10 judge grade of the behaviour being steered toward, stated as one criterion sentence."""

    async def score(state: TaskState, target: Target) -> Score:
        return await _judge(state, criterion, grader)

    return score


@cache
def _language_detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    # a few likely neighbours, so Spanish or Italian drift is not counted as French
    languages = [Language.ENGLISH, Language.FRENCH, Language.GERMAN, Language.SPANISH, Language.ITALIAN]
    return LanguageDetectorBuilder.from_languages(*languages).build()


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def french_fraction(text: str) -> float:
    """Share of the reply's letters in sentences that lingua identifies as French (0 if none)."""
    from lingua import Language

    detector = _language_detector()
    french = total = 0
    for sentence in _SENTENCE.findall(text):
        letters = sum(ch.isalpha() for ch in sentence)
        if letters == 0:
            continue
        total += letters
        if detector.detect_language_of(sentence) == Language.FRENCH:
            french += letters
    return french / total if total else 0.0


@scorer(metrics=sweep_metrics())
def french_share() -> Scorer:
    """Deterministic cross-check of the French judge: offline language ID, 0..1."""

    async def score(state: TaskState, target: Target) -> Score:
        reply = state.output.completion
        return Score(value=french_fraction(reply), answer=reply)

    return score


@scorer(metrics=sweep_metrics())
def unsteered_logprob() -> Scorer:
    """Fluency proxy: mean log-probability of the reply under the unsteered model (from the provider)."""

    async def score(state: TaskState, target: Target) -> Score:
        value = (state.output.metadata or {}).get("unsteered_logprob")
        if value is None:
            return Score.unscored(reason="the model reported no unsteered log-probability (not a steered/ model?)")
        return Score(value=float(value), answer=state.output.completion)

    return score
