"""Difference of means: mean layer output over the positive sentences of a contrast set minus the negative ones."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from steering.sources.registry import Source, register_source

if TYPE_CHECKING:
    from torch import Tensor

    from steering.spec import SteeringSpec


_BUILT: weakref.WeakKeyDictionary[Any, dict[tuple, Tensor]] = weakref.WeakKeyDictionary()
"""Directions built on each loaded model: a process's providers of one model (a capability sweep's ten settings,
one task each) share them instead of running the contrast set again."""


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
        built = _BUILT.setdefault(context.model, {})
        key = (context.layer, tuple(positive), tuple(negative))
        if key not in built:
            built[key] = diff_of_means(context.model, context.tokenizer, context.layer, positive, negative).cpu()
        return built[key].clone()

    def label(self, vector: str, feature: object) -> str:
        return "difference of means"


register_source(DiffOfMeans())
