"""One builder for every steering sweep task; a new behavioural criterion is a few lines on top."""

from __future__ import annotations

from typing import Any

from inspect_ai import Task
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import Scorer

from evals.args import parse_alphas, parse_int, parse_methods, parse_vectors
from evals.dataset import load_prompts, sweep_dataset
from evals.judge import template_digest
from evals.scorers import behavior, coherence, fluency, unsteered_logprob
from evals.solvers import steer


def sweep_task(
    *,
    name: str,
    criterion: str,
    feature: int | None,
    alphas: Any = None,
    methods: Any = "add,add_renorm",
    vector: Any = "sae",
    normalize: Any = False,
    prompts: str | None = None,
    n_prompts: Any = None,
    judge: bool = True,
    extra_scorers: list[Scorer] | None = None,
    max_tokens: Any = 64,
    temperature: Any = 0.5,
    seed: Any = 16,
) -> Task:
    """A prompts x alphas x methods sweep: judged behaviour and fluency, offline coherence, likelihood."""
    feature = None if feature is None else parse_int(feature, "feature")
    vectors = parse_vectors(vector)
    for needs_feature in {"sae", "sae_ts"} & set(vectors):
        if feature is None:
            raise ValueError(f"vector={needs_feature!r} needs a feature id (e.g. -T feature=12332)")
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize must be true or false, got {normalize!r}")
    limit = None if n_prompts is None else parse_int(n_prompts, "n_prompts", minimum=1)
    scorers: list[Scorer] = [behavior(criterion), fluency()] if judge else []
    scorers += [*(extra_scorers or []), coherence(), unsteered_logprob()]
    return Task(
        name=name,
        dataset=sweep_dataset(
            load_prompts(prompts, limit), parse_alphas(alphas), parse_methods(methods), feature, vectors, name
        ),
        solver=steer(normalize=normalize),
        scorer=scorers,
        config=GenerateConfig(
            max_tokens=parse_int(max_tokens, "max_tokens", minimum=1),
            temperature=float(temperature),
            seed=parse_int(seed, "seed"),
        ),
        metadata={
            "criterion": criterion,
            "feature": feature,
            "vectors": vectors,
            "normalize": normalize,
            "judge_template": template_digest() if judge else None,
        },
    )
