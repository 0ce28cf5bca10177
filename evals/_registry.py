"""Inspect AI entry point: registers the offline stub grader (stubgrader/<mode>)."""

from inspect_ai.model import modelapi


@modelapi(name="stubgrader")
def stubgrader():  # noqa: ANN201 - Inspect calls this to get the provider class
    from evals.stub_grader import StubGraderAPI

    return StubGraderAPI
