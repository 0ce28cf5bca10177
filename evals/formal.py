"""A second behaviour, to show the pattern: steer toward a formal register.

The feature id is a placeholder to be chosen on Neuronpedia (gemma-2-2b, 20-gemmascope-res-16k).
"""

from inspect_ai import Task, task

from evals.judge import criteria
from evals.sweep import sweep_task


@task
def formal(feature: int, alphas: str | list[float] = "default", methods: str = "add,add_renorm") -> Task:
    """Formal register and fluency against alpha, for an SAE feature you pick."""
    return sweep_task(name="formal", criterion=criteria()["formal"], feature=feature, alphas=alphas, methods=methods)
