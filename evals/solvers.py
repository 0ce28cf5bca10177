"""The steering solver: the sample's metadata says how its one generation is steered."""

from __future__ import annotations

from inspect_ai.solver import Generate, Solver, TaskState, solver

from steering.spec import SteeringSpec


@solver
def steer(normalize: bool = False) -> Solver:
    """Generate with the steering in the sample's metadata (alpha, method, feature, vector).

    The spec travels in ``extra_body`` so the provider sees it per call, Inspect logs it
    with the model call and caches on it; the grader never receives it.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        spec = SteeringSpec(
            alpha=float(meta["alpha"]),
            method=meta.get("method", "add"),
            feature=meta.get("feature"),
            vector=meta.get("vector", "sae"),
            normalize=normalize,
        )
        return await generate(state, extra_body={"steering": spec.to_dict()})

    return solve
