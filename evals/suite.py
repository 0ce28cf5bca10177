"""Many concepts in one run: every concept's directions swept over the same prompts, alphas and methods,
each beside its prompting reference, then a steerability leaderboard.

inspect eval evals/suite.py -T concepts=gemma --model steered/google/gemma-2-2b-it \
    --model-role grader=openai/gpt-4o-mini                      # the real-model suite, on a GPU
python -m evals.suite                                           # the offline suite: SmolLM2, three languages

The offline run steers SmolLM2-135M-Instruct at layer 10 toward French, Spanish and German with
difference-of-means directions from prompts/contrast, scores behaviour with ``language_share`` and
fluency with ``coherence`` (no grader), and writes curves and ``leaderboard.md`` under out/suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.scorer import Scorer

from evals.args import parse_alphas, parse_bool, parse_int, parse_methods, refuse_unknown
from evals.concepts import DEFAULT_SAE_WIDTH, load_concepts
from evals.dataset import prompting_samples, steering_samples
from evals.judge import template_digest
from evals.runner import RunFailed, run_and_plot
from evals.scorers import (
    coherence,
    fluency_offline,
    fluency_reference,
    judges,
    language_share,
    unsteered_logprob,
)
from evals.solvers import steer
from evals.sweep import generation_config, sweep_prompts
from steering.models import check_available
from steering.provider.errors import user_errors

SUITE_MODEL = "steered/smollm2-135m-instruct"
SUITE_LAYER = 10
SUITE_ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
"""The offline demo's useful range for a raw difference-of-means direction on SmolLM2 (evals.demo)."""
SUITE_TEMPERATURE = 0.7
SUITE_SEED = 16


@task
@user_errors
def suite(
    concepts: str = "gemma",
    alphas: Any = "default",
    methods: Any = "add,add_renorm",
    n_prompts: Any = "all",
    prompts: str | None = None,
    judge: Any = True,
    prompting: Any = True,
    normalize: Any = False,
    max_tokens: Any = 64,
    temperature: Any = 0.5,
    seed: Any = 16,
    cache: Any = True,
    sae_width: Any = DEFAULT_SAE_WIDTH,
    **unknown: Any,
) -> Task:
    """Every concept of a concept file (prompts/concepts/<name>.jsonl or a path), each direction swept.

    Args:
        concepts: a concept file name in prompts/concepts ("gemma", "offline") or a JSONL path.
        alphas: steering strengths; "default" is np.linspace(-300, 300, 20) plus 0.
        methods: steering methods, e.g. "add,add_renorm".
        n_prompts: use only the first n prompts ("all" by default).
        prompts: a JSONL file of {"id", "prompt"} records (default prompts/instructions.jsonl).
        judge: bind the LLM-judge scorers (each concept's criterion, fluency); the grader is the `grader` role.
        prompting: also run each prompt unsteered with the concept's instruction: the prompting reference.
        normalize: scale every direction to unit norm.
        max_tokens, temperature, seed: generation settings (sampling seeded per row).
        cache: cache generations with Inspect's cache.
        sae_width: features in the provider's SAE, to check SAE feature ids before anything loads.
    """
    refuse_unknown(suite, unknown)
    concept_list = load_concepts(concepts, parse_int(sae_width, "sae_width", minimum=1))
    judge, prompting, cache, normalize = (
        parse_bool(v, n)
        for v, n in ((judge, "judge"), (prompting, "prompting"), (cache, "cache"), (normalize, "normalize"))
    )
    records = sweep_prompts(prompts, n_prompts)
    grid, method_list = parse_alphas(alphas), parse_methods(methods)
    samples = []
    for concept in concept_list:
        extra = {"concept": concept.name, "criterion": concept.criterion, "language": concept.language}
        for direction in concept.directions:
            samples += steering_samples(
                records,
                grid,
                method_list,
                direction.feature,
                [direction.vector],
                prefix=f"{concept.name}/{direction.label}/",
                extra={**extra, "contrast": direction.contrast},
            )
        if prompting:
            samples += prompting_samples(records, concept.instruction, prefix=f"{concept.name}/", extra=extra)
    scorers: list[Scorer] = [judges()] if judge else []
    check_available(fluency_reference())  # the fluency check's model, before any reply is generated
    scorers += [language_share(), fluency_offline(), coherence(), unsteered_logprob()]
    return Task(
        name="suite",
        dataset=MemoryDataset(samples, name=f"suite-{Path(concepts).stem}"),
        solver=steer(normalize=normalize, cache=cache, preflight=judge),
        scorer=scorers,
        config=generation_config(max_tokens, temperature, seed),
        metadata={
            "concepts": [c.name for c in concept_list],
            "normalize": normalize,
            "judge_template": template_digest() if judge else None,
        },
    )


def run(out: Path, n_prompts: int = 10, display: str | None = None, **task_args: object) -> dict:
    """Run (or resume) the offline suite into out/logs and write curves and the leaderboard to out/curves."""
    args = {
        "concepts": "offline",
        "alphas": SUITE_ALPHAS,
        "judge": False,
        "max_tokens": 48,
        "temperature": SUITE_TEMPERATURE,
        "seed": SUITE_SEED,
        "n_prompts": n_prompts,
        **task_args,
    }
    return run_and_plot(suite(**args), out, model=SUITE_MODEL, model_args={"layer": SUITE_LAYER}, display=display)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/suite", help="directory for logs/ and curves/ (default: out/suite)")
    parser.add_argument("--n-prompts", type=int, default=10)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        result = run(Path(args.out), n_prompts=args.n_prompts)
    except RunFailed as error:
        print(f"python -m evals.suite: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a bad argument: one line (STEERING_TRACEBACK=1 for the traceback)
        if os.environ.get("STEERING_TRACEBACK"):
            raise
        print(f"python -m evals.suite: error: {error}", file=sys.stderr)
        return 2
    print(result["leaderboard_md"])
    print(f"wall time {time.monotonic() - started:.0f} s; curves in {Path(args.out) / 'curves'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
