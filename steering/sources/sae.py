"""SAE decoder rows: one feature's raw row (Neuronpedia's convention), or the normalised weighted sum of several."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steering.sources.registry import Source, feature_text, is_weighted, register_source

if TYPE_CHECKING:
    from torch import Tensor

    from steering.spec import SteeringSpec


class SaeRow(Source):
    name = "sae"
    summary = "the SAE feature's decoder row; with weighted targets, their normalised weighted sum"
    takes_feature = True

    def sae_features(self, spec: SteeringSpec) -> list[int]:
        return [f for f, _ in spec.targets] if spec.targets else [spec.feature]

    def build(self, spec: SteeringSpec, context: Any) -> Tensor:
        rows = context.sae_rows(self.sae_features(spec))
        if not spec.targets:
            return rows[spec.feature]
        # the SAE-TS authors' multi-feature steering (load_sae_steer): normalize(sum of weight x row)
        vector = sum(weight * rows[feature] for feature, weight in spec.targets)
        return vector / vector.norm()

    def describe(self, vector: str, feature: object, sae: str) -> str:
        kind = "SAE features, summed with weights" if is_weighted(feature) else "SAE feature"
        return f"{kind} {feature_text(feature)} of {sae}"

    def label(self, vector: str, feature: object) -> str:
        return f"SAE features (weighted {feature})" if is_weighted(feature) else f"SAE feature {feature_text(feature)}"


register_source(SaeRow())
