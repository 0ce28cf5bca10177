"""Many concepts in one run: every concept's directions swept over the same prompts, alphas and methods,
each beside its prompting reference, then a steerability leaderboard.

inspect eval evals/suite.py -T concepts=gemma --model steered/google/gemma-2-2b-it \
    --model-role grader=openai/gpt-4o-mini                      # the real-model suite, on a GPU
inspect eval evals/suite.py -T protocol=axbench -T concepts=FILE.txt ...   # AxBench's protocol
python -m evals.suite                                           # the offline suite: Gemma 3 270M, ten languages

The offline run steers Gemma 3 270M (the base model, as the demo) at layer 6 toward ten languages with
difference-of-means directions from prompts/contrast, each beside a translation cue, scores behaviour with
``language_share``, fluency with ``fluency_offline`` and instruction relevance with ``relevance_offline`` (no
grader), and ranks the concepts' held-out picks by ``axbench_offline`` in out/suite/curves/leaderboard.md.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.scorer import Scorer

from evals.args import parse_alphas, parse_bool, parse_int, parse_methods, refuse_unknown
from evals.axbench_judge import axbench_digest, axbench_judge
from evals.concepts import DEFAULT_SAE_WIDTH, FEATURE_INSTRUCTION, Concept, load_concepts
from evals.dataset import prompting_samples, steering_samples
from evals.judge import template_digest
from evals.runner import RunFailed, run_and_plot
from evals.scorers import (
    coherence,
    fluency_offline,
    fluency_reference,
    judges,
    language_share,
    relevance_offline,
    unsteered_logprob,
)
from evals.solvers import steer
from evals.sweep import generation_config, sweep_prompts
from steering import PROMPTS_DIR
from steering.models import check_available
from steering.provider.errors import user_errors

SUITE_MODEL = "steered/gemma-3-270m"
SUITE_MODEL_ARGS = {"layer": 6, "chat_template": False}
"""The offline demo's setting (evals.demo): a base model continues text, steered at decoder layer 6."""
SUITE_ALPHAS = [0.0, 1.0, 1.5, 2.0]
"""Around the demo's held-out pick for French (add_renorm at 1.5) for raw difference-of-means directions."""
SUITE_TEMPERATURE = 0.7
SUITE_SEED = 16
SUITE_OBJECTIVE = "axbench_offline"


PROTOCOLS = ("sae_ts", "axbench")
AXBENCH_PROMPTS = PROMPTS_DIR / "axbench" / "instructions.jsonl"
AXBENCH_INSTRUCTIONS = 10
"""Instructions per concept in AxBench: the first five pick the steering factor, the last five report it."""
AXBENCH_GENERATION = {"max_tokens": 128, "temperature": 1.0}
SAE_TS_GENERATION = {"max_tokens": 64, "temperature": 0.5}


@task
@user_errors
def suite(
    concepts: str = "gemma",
    protocol: str = "sae_ts",
    alphas: Any = "default",
    methods: Any = "add,add_renorm",
    n_prompts: Any = "default",
    prompts: str | None = None,
    judge: Any = True,
    prompting: Any = True,
    normalize: Any = False,
    max_tokens: Any = "default",
    temperature: Any = "default",
    seed: Any = 16,
    cache: Any = True,
    sae_width: Any = DEFAULT_SAE_WIDTH,
    unsteered_likelihood: Any = True,
    **unknown: Any,
) -> Task:
    """Every concept of a concept file (prompts/concepts/<name>.jsonl, a JSONL path, or a .txt/.csv list of
    ``feature, description`` lines), each direction swept.

    Args:
        concepts: a concept file name in prompts/concepts ("gemma", "offline", "languages") or a path.
        protocol: "sae_ts" (the 1-10 behaviour and fluency judges; every concept on the same prompts) or
            "axbench" (AxBench's three 0-2 judges and their harmonic mean; 10 instructions sampled per concept,
            the first 5 pick the alpha and the last 5 report it; 128 tokens at temperature 1.0 unless given).
        alphas: steering strengths; "default" is np.linspace(-300, 300, 20) plus 0.
        methods: steering methods, e.g. "add,add_renorm".
        n_prompts: prompts per concept: the first n ("all" by default), or under "axbench" n sampled (10).
        prompts: a JSONL file of {"id", "prompt"} records (default prompts/instructions.jsonl, or
            prompts/axbench/instructions.jsonl under "axbench").
        judge: bind the LLM-judge scorers; the grader is the `grader` role.
        prompting: also run each prompt unsteered with the concept's instruction: the prompting reference.
        normalize: scale every direction to unit norm.
        max_tokens, temperature, seed: generation settings (sampling seeded per row).
        cache: cache generations with Inspect's cache.
        sae_width: features in the provider's SAE, to check SAE feature ids before anything loads.
        unsteered_likelihood: score ``unsteered_logprob`` (false where the steered model is the fluency check's
            reference, whose likelihood ``fluency_offline`` already reports: the offline suite).
    """
    refuse_unknown(suite, unknown)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: use one of {list(PROTOCOLS)}")
    axbench = protocol == "axbench"
    concept_list = load_concepts(concepts, parse_int(sae_width, "sae_width", minimum=1))
    judge, prompting, cache, normalize, unsteered_likelihood = (
        parse_bool(v, n)
        for v, n in (
            (judge, "judge"), (prompting, "prompting"), (cache, "cache"), (normalize, "normalize"),
            (unsteered_likelihood, "unsteered_likelihood"),
        )
    )  # fmt: skip
    defaults = AXBENCH_GENERATION if axbench else SAE_TS_GENERATION
    max_tokens = defaults["max_tokens"] if max_tokens == "default" else max_tokens
    temperature = defaults["temperature"] if temperature == "default" else temperature
    if axbench:
        records = sweep_prompts(prompts or str(AXBENCH_PROMPTS), "all")
        count = AXBENCH_INSTRUCTIONS if n_prompts in ("default", "all") else parse_int(n_prompts, "n_prompts", 2)
        if count > len(records):
            raise ValueError(f"n_prompts={count} instructions per concept, but the prompt file holds {len(records)}")
    else:
        records = sweep_prompts(prompts, "all" if n_prompts == "default" else n_prompts)
    grid, method_list = parse_alphas(alphas), parse_methods(methods)
    samples = []
    for index, concept in enumerate(concept_list):
        mine, split = concept_instructions(records, count, concept, index) if axbench else (records, {})
        extra = {"concept": concept.name, "criterion": concept.criterion, "language": concept.language}
        extra["concept_description"] = concept.described
        concept_samples = []
        for direction in concept.directions:
            concept_samples += steering_samples(
                mine,
                grid,
                method_list,
                direction.feature,
                [direction.vector],
                prefix=f"{concept.name}/{direction.label}/",
                extra={**extra, "contrast": direction.contrast},
            )
        if prompting:
            # AxBench asks every concept in words; a concept file's concept without an instruction has no reference
            generic = FEATURE_INSTRUCTION.format(description=concept.described) if axbench else None
            cue = concept.instruction or generic
            concept_samples += prompting_samples(mine, cue, prefix=f"{concept.name}/", extra=extra)
        for sample in concept_samples:
            if split:
                sample.metadata = {**(sample.metadata or {}), "split": split[sample.metadata["prompt_id"]]}
        samples += concept_samples
    scorers: list[Scorer] = ([axbench_judge()] if axbench else [judges()]) if judge else []
    check_available(fluency_reference())  # the fluency check's model, before any reply is generated
    scorers += [language_share(), fluency_offline(), relevance_offline(), coherence()]
    scorers += [unsteered_logprob()] if unsteered_likelihood else []
    return Task(
        name="suite",
        dataset=MemoryDataset(samples, name=f"suite-{Path(concepts).stem}"),
        solver=steer(normalize=normalize, cache=cache, preflight=judge),
        scorer=scorers,
        config=generation_config(max_tokens, temperature, seed),
        metadata={
            "concepts": [c.name for c in concept_list],
            "protocol": protocol,
            "normalize": normalize,
            "judge_template": (axbench_digest() if axbench else template_digest()) if judge else None,
        },
    )


def concept_instructions(
    records: list[dict[str, str]], count: int, concept: Concept, index: int
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """AxBench's draw: ``count`` instructions sampled for the concept (seeded by its SAE feature id, else its
    position in the file), and which half each is in: the first half ``select``, the rest ``report``."""
    feature = next((d.feature for d in concept.directions if d.feature is not None), None)
    drawn = random.Random(feature if feature is not None else index).sample(records, count)
    return drawn, {r["id"]: ("select" if i < count // 2 else "report") for i, r in enumerate(drawn)}


def run(out: Path, n_prompts: int = 10, display: str | None = None, **task_args: object) -> dict:
    """Run (or resume) the offline suite into out/logs and write curves and the leaderboard to out/curves."""
    from evals.demo import default_engine

    args = {
        "concepts": "languages",
        "prompts": str(PROMPTS_DIR / "openers.jsonl"),
        "alphas": SUITE_ALPHAS,
        "methods": "add_renorm",
        "judge": False,
        "max_tokens": 32,
        "temperature": SUITE_TEMPERATURE,
        "seed": SUITE_SEED,
        "n_prompts": n_prompts,
        # the steered model is the fluency check's reference: no second likelihood pass per reply in the engine
        "unsteered_likelihood": False,
        **task_args,
    }
    model_args = {**SUITE_MODEL_ARGS, "fluency_proxy": False, "engine": default_engine()}
    return run_and_plot(
        suite(**args), out, model=SUITE_MODEL, model_args=model_args, display=display, objective=SUITE_OBJECTIVE
    )


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
