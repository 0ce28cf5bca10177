"""Difference of means: mean layer output over the positive sentences of a contrast set minus the negative ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steering.sources.registry import Source, register_source

if TYPE_CHECKING:
    from torch import Tensor

    from steering.spec import SteeringSpec


class DiffOfMeans(Source):
    name = "diff_of_means"
    summary = "mean layer output over a contrast set's positive minus negative sentences (contrast=<set>)"
    takes_contrast = True

    def cache_key(self, spec: SteeringSpec, context: Any) -> tuple:
        return (self.name, spec.contrast or context.contrast)

    def build(self, spec: SteeringSpec, context: Any) -> Tensor:
        from steering.directions import diff_of_means
        from steering.sources.contrast import load_contrast

        positive, negative = load_contrast(spec.contrast or context.contrast)
        return diff_of_means(context.model, context.tokenizer, context.layer, positive, negative).cpu()

    def label(self, vector: str, feature: object) -> str:
        return "difference of means"


register_source(DiffOfMeans())
