"""Inspect AI entry point: registers the steered/ provider without importing torch."""

from inspect_ai.model import modelapi


@modelapi(name="steered")
def steered():  # noqa: ANN201 - Inspect calls this to get the provider class
    from steering.provider.model_api import SteeredModelAPI

    return SteeredModelAPI
