"""Scorers: 10-point LLM-judge grades (fluency, a behaviour) and deterministic cross-checks."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    ResponseSchema,
    get_model,
)
from inspect_ai.model._generate_config import active_generate_config  # the eval-wide config (not exported)
from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    Value,
    mean,
    metric,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState
from inspect_ai.util import AdaptiveConcurrency, json_schema

from evals.dataset import PROMPTING
from evals.judge import Grade, criteria, judge_messages, parse_grade
from evals.metrics import REFERENCE_MODEL, coherence_report, french_report, language_report
from evals.metrics.fluency_check import fluency_async
from evals.metrics.relevance import relevance_async
from steering.provider.sharing import RequestSharing, coroutine_submit

DEFAULT_GRADER = "openai/gpt-4o-mini"
# the sweep task turns adaptive concurrency off for the steered model, and a role model inherits that:
# judges get it back here, with room to grow to two calls for each sample a GPU batch holds in flight
# (backing off on rate limits as Inspect's controller does); an explicit --max-connections overrides it
JUDGE_CONNECTIONS = AdaptiveConcurrency(min=10, start=32, max=512)
# graders that support structured output (OpenAI and others) return exactly this object;
# the rest ignore the schema and answer in text, parsed by the same strict rule
JUDGE_CONFIG = GenerateConfig(
    temperature=0.0,
    response_schema=ResponseSchema(name="grade", json_schema=json_schema(Grade), strict=True),
    adaptive_connections=JUDGE_CONNECTIONS,
)
# Inspect's defaults retry a connection error or a stalled call for up to 30 minutes per call; a judge call
# of ~300 tokens is given 60 s an attempt, 6 retries (about 3 minutes of back-off) and 10 minutes in all.
# They fill only what the grader role, or for retries and timeout the eval, leaves unset:
# --model-role 'grader={model: openai/gpt-4o-mini, attempt_timeout: 30, max_retries: 10}' changes them.
JUDGE_LIMITS = GenerateConfig(attempt_timeout=60, max_retries=6, timeout=600)


def cell_name(alpha: float, method: str, vector: str | None = None) -> str:
    """``α=+0.6 (add)``: inspect view strips a metric name's trailing digits, so the name ends in ')'."""
    return f"α={alpha:+g} ({method}{'' if vector is None else f', {vector}'})"


@metric
def curve() -> Metric:
    """Mean per (method, alpha), then per alpha over methods, in the order a curve is read.

    Unscored samples (NaN) are left out; a cell with none scored is NaN, never renamed.
    """

    def compute(scores: list[SampleScore]) -> Value:
        cells: dict[tuple[str, str, float], list[float]] = {}
        metas = [s.sample_metadata or {} for s in scores]
        vectors = {str(m.get("vector")) for m in metas if m.get("method") != PROMPTING}
        concepts = {str(m.get("concept")) for m in metas}
        for sample_score, meta in zip(scores, metas):
            if "alpha" not in meta or "method" not in meta:
                continue
            value = sample_score.score.as_float()
            prompting = meta["method"] == PROMPTING
            vector = str(meta.get("vector")) if len(vectors) > 1 and not prompting else ""
            if len(concepts) > 1:
                vector = "/".join(filter(None, [str(meta.get("concept")), vector]))
            # the prompting reference is its own cell, never pooled into a steering alpha's "all"
            for method in (str(meta["method"]),) if prompting else (str(meta["method"]), "all"):
                cell = cells.setdefault((vector, method, float(meta["alpha"])), [])
                if value == value:
                    cell.append(value)
        out: dict[str, float] = {}
        for vector, method, alpha in sorted(cells, key=lambda key: (key[0], key[1] == "all", key[1], key[2])):
            values = cells[(vector, method, alpha)]
            out[cell_name(alpha, method, vector or None)] = sum(values) / len(values) if values else float("nan")
        return out

    return compute


def sweep_metrics() -> list[Metric | dict[str, Any]]:
    """Overall mean and stderr, plus the per-(method, alpha) curve for ``inspect view``."""
    return [mean(), stderr(), curve()]


def grader_model(grader: str | Model | None = None) -> Model:
    # the default lives here, not in Task(model_roles=...), so runs that bind another grader need no OpenAI key
    return get_model(grader) if grader is not None else get_model(role="grader", default=DEFAULT_GRADER)


def judge_limits(model: Model) -> GenerateConfig:
    """The JUDGE_LIMITS the role (or, for retries and timeout, the eval) does not set."""
    eval_wide = active_generate_config()
    limits = {
        name: value
        for name, value in JUDGE_LIMITS.model_dump(exclude_none=True).items()
        if getattr(model.config, name) is None and (name == "attempt_timeout" or getattr(eval_wide, name) is None)
    }
    return GenerateConfig(**limits)


def judge_config(model: Model) -> GenerateConfig:
    """JUDGE_CONFIG plus the JUDGE_LIMITS the role (or, for retries and timeout, the eval) does not set."""
    return JUDGE_CONFIG.merge(judge_limits(model))


_IN_FLIGHT = RequestSharing()
"""Judge requests being answered: an identical one (the same reply to grade) waits for it instead; the rules are
the provider's (steering.provider.sharing)."""


async def share_request(model: Model, messages: list[ChatMessage], config: GenerateConfig) -> tuple[ModelOutput, bool]:
    """(grader output, shared): Inspect's cache dedupes finished requests, this the ones in flight together."""
    text = tuple((message.role, message.text) for message in messages)  # not the messages' own ids
    key = (str(model), model.api.base_url, text, config.model_dump_json(), id(asyncio.get_running_loop()))
    return await _IN_FLIGHT.result(key, coroutine_submit(lambda: model.generate(messages, config=config, cache=True)))


async def _judge(state: TaskState, criterion: str, grader: str | Model | None) -> Score:
    reply = state.output.completion
    system, user = judge_messages(criterion, state.input_text, reply)
    model = grader_model(grader)
    messages: list[ChatMessage] = [ChatMessageSystem(content=system), ChatMessageUser(content=user)]
    output, shared = await share_request(model, messages, judge_config(model))
    grade, reasoning = parse_grade(output.completion)
    metadata = {"criterion": criterion, "grader_reply": output.completion, "shared": shared}
    if grade is None:
        return Score.unscored(
            reason="the grader's reply has no well-formed final JSON object with an integer score from 1 to 10",
            answer=reply,
            explanation=output.completion,
            metadata=metadata,
        )
    return Score(value=grade, answer=reply, explanation=reasoning, metadata=metadata)


@scorer(metrics=sweep_metrics())
def fluency(grader: str | None = None) -> Scorer:
    """1-10 judge grade of coherence and grammar alone (SAE-TS's coherence criterion), e.g. for ``inspect score``."""

    async def score(state: TaskState, target: Target) -> Score:
        return await _judge(state, criteria()["fluency"], grader)

    return score


def sample_text(state: TaskState, given: str | None, key: str, hint: str) -> str:
    """A judge's text: the scorer's argument, else the sample's own ``metadata[key]`` (a suite sets one per
    concept); ``hint`` says what to pass when neither is there."""
    text = given or (state.metadata or {}).get(key)
    if not text:
        raise ValueError(f"sample {state.sample_id!r} has no {key}: pass {hint}")
    return str(text)


def _criterion(state: TaskState, criterion: str | None) -> str:
    return sample_text(state, criterion, "criterion", "behavior(criterion=...)")


@scorer(metrics=sweep_metrics())
def behavior(criterion: str | None = None, grader: str | None = None) -> Scorer:
    """1-10 judge grade of the behaviour being steered toward, stated as one criterion sentence, alone.

    ``criterion`` None: each sample's own (``metadata["criterion"]``, as a concept suite sets it).
    """

    async def score(state: TaskState, target: Target) -> Score:
        return await _judge(state, _criterion(state, criterion), grader)

    return score


JUDGED = ("behavior", "fluency")
"""The keys of ``judges()``'s value, which the analysis reads as the columns ``behavior`` and ``fluency``."""


@scorer(metrics={name: sweep_metrics() for name in JUDGED})
def judges(criterion: str | None = None, grader: str | None = None) -> Scorer:
    """Both 1-10 judge grades of a reply, asked at once: ``{"behavior": b, "fluency": f}``.

    One scorer, so a sample waits for one round of judge calls and nothing outlives it; a grade the judge
    answered badly is NaN under its key (unscored there, its reply kept in metadata), the other still counts.
    """

    async def score(state: TaskState, target: Target) -> Score:
        sentences = {"behavior": _criterion(state, criterion), "fluency": criteria()["fluency"]}
        async with asyncio.TaskGroup() as group:  # one failing call cancels the other
            calls = {name: group.create_task(_judge(state, sentences[name], grader)) for name in JUDGED}
        scores = {name: call.result() for name, call in calls.items()}
        return Score(
            value={name: scores[name].as_float() for name in JUDGED},
            answer=state.output.completion,
            explanation="\n\n".join(f"{name}: {_explained(scores[name])}" for name in JUDGED),
            metadata={name: scores[name].metadata for name in JUDGED},
        )

    return score


def judge_grade(scores: dict[str, Score], name: str) -> float:
    """A sample's ``behavior`` or ``fluency`` grade from a log of either layout (``judges()``, or the two
    scorers earlier logs have); NaN when unscored."""
    if name in scores:
        return scores[name].as_float()
    return float(scores["judges"].value[name])  # type: ignore[index]


def _explained(score: Score) -> str:
    if score.value == score.value:
        return str(score.explanation)
    return f"unscored ({score.reason}); the grader said: {score.explanation}"


def _report_score(report: Callable[[str], Any]) -> Scorer:
    """Score a reply with a deterministic metric from evals.metrics, its explanation shown in inspect view."""

    async def score(state: TaskState, target: Target) -> Score:
        reply = state.output.completion
        result = report(reply)
        return Score(value=result.value, answer=reply, explanation=result.explanation())

    return score


@scorer(metrics=sweep_metrics())
def french_share() -> Scorer:
    """Deterministic cross-check of the French judge: share of real French words, 0..1 (evals.metrics)."""
    return _report_score(french_report)


@scorer(metrics=sweep_metrics())
def language_share() -> Scorer:
    """Deterministic behaviour score of a language concept: share of real words of the sample's
    ``metadata["language"]`` in sentences of that language, 0..1 (``french_share`` for any language)."""

    async def score(state: TaskState, target: Target) -> Score:
        language = (state.metadata or {}).get("language")
        reply = state.output.completion
        if not language:
            return Score.unscored(reason="the sample's concept names no language to measure", answer=reply)
        result = language_report(reply, language)
        return Score(value=result.value, answer=reply, explanation=result.explanation())

    return score


@scorer(metrics=sweep_metrics())
def coherence() -> Scorer:
    """Deterministic cross-check of the fluency judge: real words x non-repeated trigrams, 0..1."""
    return _report_score(coherence_report)


FLUENCY_REFERENCE_ENV = "STEERING_FLUENCY_REFERENCE"
"""Names the fluency check's reference model for every task at once (default: Gemma 3 270M)."""


def fluency_reference(reference: str | None = None) -> str:
    return reference or os.environ.get(FLUENCY_REFERENCE_ENV) or REFERENCE_MODEL


def _reference_score(model: str, measure: Callable[..., Any], details: Callable[[Any], dict[str, Any]]) -> Scorer:
    """Score a reply with a reference-model check (``measure(reply, prompt, model)``, batched across samples),
    read after its bare prompt as the judges see it; ``details`` names the report's parts in the metadata."""

    async def score(state: TaskState, target: Target) -> Score:
        reply = state.output.completion
        report = await measure(reply, state.input_text, model)
        metadata = {**details(report), "reference": model}
        return Score(value=report.value, answer=reply, explanation=report.explanation(), metadata=metadata)

    return score


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


@scorer(metrics=sweep_metrics())
def fluency_offline(reference: str | None = None) -> Scorer:
    """Deterministic check of the fluency judge: coherence x likelihood under a reference model, 0..1.

    Each reply is read after its bare prompt (as the judges see it); replies scored at the same time share
    one batched pass. ``reference`` (or $STEERING_FLUENCY_REFERENCE) swaps Gemma 3 270M for another model.
    """
    return _reference_score(
        fluency_reference(reference),
        fluency_async,
        lambda report: {
            "coherence": report.coherence.value,
            "likelihood": report.likelihood,
            "nll_per_token": _number(report.nll),
        },
    )


@scorer(metrics=sweep_metrics())
def relevance_offline(reference: str | None = None) -> Scorer:
    """Deterministic check of instruction relevance: how much likelier the reply is after its own prompt than
    after nothing under the reference model, calibrated to 0..1 (evals.metrics.relevance); the prompt is the one
    the judges see (without a prompting cue)."""
    model = fluency_reference(reference)
    return _reference_score(model, relevance_async, lambda report: {"gain": _number(report.gain)})


@scorer(metrics=sweep_metrics())
def unsteered_logprob() -> Scorer:
    """Likelihood, not fluency: mean log-probability of the reply under the unsteered model.

    It rewards repetition (a loop is very likely) and punishes any language the prompt
    did not ask for, so it is reported beside ``coherence``, never as a fluency score.
    """

    async def score(state: TaskState, target: Target) -> Score:
        value = (state.output.metadata or {}).get("unsteered_logprob")
        if not state.output.completion.strip():
            return Score.unscored(reason="the reply is empty: no tokens to score", answer=state.output.completion)
        if value is None:
            return Score.unscored(reason="the model reported no unsteered log-probability (not a steered/ model?)")
        return Score(value=float(value), answer=state.output.completion)

    return score
