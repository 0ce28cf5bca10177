"""One builder for every steering sweep task; a new behavioural criterion is a few lines on top."""

from __future__ import annotations

import inspect
from typing import Any

from inspect_ai import Task
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import Scorer

from evals.args import (
    DEFAULT,
    parse_alphas,
    parse_bool,
    parse_float,
    parse_int,
    parse_methods,
    parse_vectors,
)
from evals.dataset import load_prompts, sweep_dataset
from evals.judge import template_digest
from evals.scorers import coherence, fluency_offline, fluency_reference, judges, relevance_offline, unsteered_logprob
from evals.solvers import steer
from steering.models import check_available
from steering.provider.errors import user_errors
from steering.sources.registry import is_weighted, names_that, takes_feature
from steering.spec import parse_targets, targets_label


@user_errors
def sweep_task(
    *,
    name: str,
    criterion: str,
    feature: int | None,
    alphas: Any = DEFAULT,
    methods: Any = "add,add_renorm",
    vector: Any = "sae",
    normalize: Any = False,
    prompts: str | None = None,
    n_prompts: Any = "all",
    judge: Any = True,
    extra_scorers: list[Scorer] | None = None,
    max_tokens: Any = 64,
    temperature: Any = 0.5,
    seed: Any = 16,
    cache: Any = True,
    instruction: Any = None,
    prompting: Any = True,
    preflight: Any = True,
    default_alphas: list[float] | None = None,
    feature_sae: str | None = None,
    unsteered_likelihood: bool = True,
) -> Task:
    """A prompts x alphas x methods sweep: judged behaviour and fluency, offline fluency and coherence, likelihood.

    With an ``instruction`` (and ``prompting`` on) every prompt is also run unsteered with the
    instruction appended: the prompting reference. Every argument is validated here, before
    any model loads; an empty CLI value (``-T alphas=``) is an error, never the default.
    ``unsteered_likelihood`` False leaves out ``unsteered_logprob`` (a task whose model is the fluency
    check's reference model already reports that likelihood inside ``fluency_offline``).
    """
    if not isinstance(criterion, str) or not criterion.strip():
        raise ValueError(f"criterion must be a sentence the judge grades against, got {criterion!r}")
    vectors = parse_vectors(vector)
    targets = None
    if is_weighted(feature):
        # SAE-TS's weighted targets, e.g. the authors' French: -T feature=8392:0.5,15769:0.5 (sae: summed rows)
        targets = targets_label(parse_targets(feature))
        if not all(takes_feature(v) for v in vectors):
            raise ValueError(
                f"weighted targets (feature={targets}) work with vector={names_that('takes_feature')}, got {vectors}"
            )
        feature = None
    else:
        feature = None if feature is None else parse_int(feature, "feature")
    for needs_feature in filter(takes_feature, vectors):
        if feature is None and targets is None:
            raise ValueError(f"vector={needs_feature!r} needs a feature id (e.g. -T feature=12332)")
    normalize, judge, cache, prompting, preflight = (
        parse_bool(v, n)
        for v, n in (
            (normalize, "normalize"), (judge, "judge"), (cache, "cache"), (prompting, "prompting"),
            (preflight, "preflight"),
        )
    )  # fmt: skip
    if instruction is not None and (not isinstance(instruction, str) or not instruction.strip()):
        raise ValueError(f"instruction must be a sentence asking for the behaviour, got {instruction!r}")
    alpha_grid = parse_alphas(alphas, default=default_alphas)
    method_list = parse_methods(methods)
    config = generation_config(max_tokens, temperature, seed)
    check_available(fluency_reference())  # the fluency check's model, before any reply is generated
    scorers: list[Scorer] = [judges(criterion)] if judge else []
    scorers += [*(extra_scorers or []), fluency_offline(), relevance_offline(), coherence()]
    scorers += [unsteered_logprob()] if unsteered_likelihood else []
    return Task(
        name=name,
        dataset=sweep_dataset(
            sweep_prompts(prompts, n_prompts),
            alpha_grid,
            method_list,
            feature,
            vectors,
            name,
            instruction=instruction if prompting else None,
            targets=targets,
            feature_sae=feature_sae,
        ),
        solver=steer(normalize=normalize, cache=cache, preflight=judge and preflight),
        scorer=scorers,
        config=config,
        metadata={
            "criterion": criterion,
            "feature": feature,
            "targets": targets,
            "vectors": vectors,
            "normalize": normalize,
            "judge_template": template_digest() if judge else None,
            "instruction": instruction if prompting else None,
        },
    )


def generation_config(max_tokens: Any, temperature: Any, seed: Any) -> GenerateConfig:
    """The generation settings every sweep task takes (``-T max_tokens/temperature/seed``), checked."""
    return GenerateConfig(
        max_tokens=parse_int(max_tokens, "max_tokens", minimum=1),
        temperature=parse_float(temperature, "temperature", 0.0, 10.0, "0.5"),
        seed=parse_int(seed, "seed"),
        # a local model has no rate limit to probe: samples in flight are the provider's fixed
        # 4 x batch_size, not Inspect's adaptive 20-100 (the judges keep their own adaptive limit)
        adaptive_connections=False,
    )


def sweep_prompts(prompts: str | None, n_prompts: Any) -> list[dict[str, str]]:
    """The prompt records (``-T prompts=FILE``, ``-T n_prompts=N`` or "all")."""
    return load_prompts(prompts, None if n_prompts == "all" else parse_int(n_prompts, "n_prompts", minimum=1))


SWEEP_ARGS = tuple(
    p
    for p in inspect.signature(sweep_task).parameters
    if p not in ("name", "extra_scorers", "default_alphas", "feature_sae")
)
"""Every task argument a sweep takes (``-T name=value``): sweep_task's own parameters."""


@user_errors
def criterion_sweep(
    name: str,
    criterion: str,
    feature: int | None = None,
    vector: str = "sae",
    args: dict[str, Any] | None = None,
    extra_scorers: list[Scorer] | None = None,
    instruction: str | None = None,
) -> Task:
    """A new behavioural criterion in one call: a name, a criterion sentence and a feature (or vector).

    ``args`` are the task's own ``-T`` arguments (``@task def mine(**args)``): every sweep argument
    passes through (n_prompts, alphas, methods, vector, max_tokens, temperature, seed, judge, ...), and
    one the sweep does not know is an error naming the valid ones, not a silent warning.
    """
    args = dict(args or {})
    unknown = sorted(set(args) - set(SWEEP_ARGS))
    if unknown:
        raise ValueError(f"unknown task args {unknown} for {name!r}: valid are {sorted(SWEEP_ARGS)}")
    merged = {"criterion": criterion, "feature": feature, "vector": vector, "instruction": instruction, **args}
    return sweep_task(name=name, extra_scorers=extra_scorers, **merged)
