"""SAE-TS targeted vectors: the direction a fitted effect approximator predicts will move the target features."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from steering.sources.registry import Source, feature_text, is_weighted, register_source

if TYPE_CHECKING:
    from torch import Tensor

    from steering.spec import SteeringSpec


class SaeTsVector(Source):
    name = "sae_ts"
    summary = "the SAE-TS vector targeting the feature (or weighted targets); unit norm; needs a fitted approximator"
    takes_feature = True

    def build(self, spec: SteeringSpec, context: Any) -> Tensor:
        import torch

        from steering.directions import check_feature
        from steering.sae_ts import Approximator, approximator_path

        path = (
            Path(context.sae_ts)
            if context.sae_ts
            else approximator_path(context.model_name, context.sae, context.layer)
        )
        if not path.is_file():
            sae = context.sae
            raise ValueError(
                f"no SAE-TS approximator at {path}: fit one with "
                f"python -m steering.sae_ts fit --model {context.model_name} --layer {context.layer} "
                + (f"--sae {sae.sae_id}" if sae.release is None else f"--sae-id {sae.sae_id}")
            )
        approximator = Approximator.load(path)
        d_sae = approximator.b.shape[0]
        target = torch.zeros(d_sae)
        for feature, weight in spec.targets or ((spec.feature, 1.0),):
            check_feature(feature, d_sae, f"the SAE-TS approximator {path.name}")
            target[feature] = weight
        return approximator.targeted_vector(target)

    def describe(self, vector: str, feature: object, sae: str) -> str:
        kind = "SAE-TS vector for the weighted targets" if is_weighted(feature) else "SAE-TS vector for feature"
        return f"{kind} {feature_text(feature)} of {sae}"

    def label(self, vector: str, feature: object) -> str:
        kind = "targets" if is_weighted(feature) else "feature"
        return f"SAE-TS vector ({kind} {feature_text(feature)})"


register_source(SaeTsVector())
