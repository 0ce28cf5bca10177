"""A second behaviour, to show the pattern: steer toward a formal register.

inspect eval evals/formal.py -T feature=1234 --model steered/google/gemma-2-2b-it --model-role grader=openai/gpt-4o-mini

The feature id is yours to choose on Neuronpedia (gemma-2-2b, 20-gemmascope-res-16k); every sweep
argument (-T n_prompts=3, alphas=..., methods=..., vector=..., judge=false, ...) passes through.
"""

from inspect_ai import Task, task

from evals.judge import criteria, instructions
from evals.sweep import criterion_sweep


@task
def formal(**args) -> Task:
    """Formal register and fluency against alpha, for an SAE feature (-T feature=...) or a vector."""
    return criterion_sweep("formal", criteria()["formal"], args=args, instruction=instructions()["formal"])
