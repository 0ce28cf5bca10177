"""Turning a steering spec into a direction tensor for one loaded model and layer."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from steering import shipped_file
from steering.directions import (
    SaeRef,
    check_feature,
    check_sae_fits,
    diff_of_means,
    load_sae,
    load_vector_file,
    sae_feature_directions,
)
from steering.spec import SteeringSpec


def load_contrast(name_or_path: str) -> tuple[list[str], list[str]]:
    """A contrast set: ``prompts/contrast/<name>.json`` or a path, with "positive" and "negative" lists."""
    data = json.loads(shipped_file(name_or_path, "contrast", ".json", "contrast set").read_text())
    return list(data["positive"]), list(data["negative"])


class DirectionSource:
    """Resolves specs to direction vectors, caching each; keeps only the SAE decoder rows asked for."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        layer: int,
        sae: SaeRef,
        contrast: str = "french_english",
        converter: Any = None,
        sae_ts: str | None = None,
        model_name: str = "",
    ):
        self.model, self.tokenizer, self.layer = model, tokenizer, layer
        self.sae, self.contrast, self.converter = sae, contrast, converter
        self.sae_ts, self.model_name = sae_ts, model_name
        self._cache: dict[tuple, Tensor] = {}
        self._d_sae: int | None = None
        self._lock = threading.RLock()

    def _key(self, spec: SteeringSpec) -> tuple:
        if spec.targets is not None:
            return (spec.vector, spec.targets, spec.normalize)
        if spec.vector == "diff_of_means":
            return (spec.vector, spec.contrast or self.contrast, spec.normalize)
        return (spec.vector, spec.feature if spec.vector in ("sae", "sae_ts") else None, spec.normalize)

    def prefetch(self, specs: list[SteeringSpec]) -> None:
        """Load the decoder rows every spec of a batch needs with one SAE load.

        Features out of the SAE's range are skipped here and fail their own spec in ``resolve``.
        """
        with self._lock:
            missing = {
                feature
                for s in specs
                if s.vector == "sae" and self._key(s) not in self._cache
                for feature in ([f for f, _ in s.targets] if s.targets else [s.feature])
                if ("sae", feature, False) not in self._cache
            }
            if missing and (self._d_sae is None or any(0 <= f < self._d_sae for f in missing)):
                self._load_sae_rows(sorted(missing))

    def resolve(self, specs: list[SteeringSpec]) -> list[Tensor]:
        self.prefetch(specs)
        with self._lock:
            return [self._resolve_one(spec) for spec in specs]

    def _load_sae_rows(self, features: list[int]) -> None:
        sae = load_sae(self.sae, converter=self.converter)
        check_sae_fits(
            d_in=sae.cfg.d_in,
            hook_name=sae.cfg.metadata.hook_name,
            hidden_size=self.model.config.hidden_size,
            layer=self.layer,
            sae_name=self.sae.name,
        )
        self._d_sae = sae.cfg.d_sae
        in_range = [f for f in features if isinstance(f, int) and 0 <= f < self._d_sae]
        raw = sae_feature_directions(sae, in_range, sae_name=self.sae.name)
        for feature, row in raw.rows.items():
            self._cache[("sae", feature, False)] = row
            self._cache[("sae", feature, True)] = row / row.norm()
        del sae  # the encoder and the other decoder rows are not kept

    def _weighted_rows(self, targets: tuple[tuple[int, float], ...]) -> Tensor:
        """normalize(sum of weight x decoder row): the authors' multi-feature SAE steering (load_sae_steer)."""
        for feature, _ in targets:
            check_feature(feature, self._d_sae or 0, self.sae.name)
        vector = sum(weight * self._cache[("sae", feature, False)] for feature, weight in targets)
        return vector / vector.norm()

    def _sae_ts_vector(self, targets: tuple[tuple[int, float], ...]) -> Tensor:
        """The SAE-TS vector (unit norm) for target weights over features (one feature: weight 1)."""
        from steering.sae_ts import Approximator, approximator_path

        path = Path(self.sae_ts) if self.sae_ts else approximator_path(self.model_name, self.sae, self.layer)
        if not path.is_file():
            raise ValueError(
                f"no SAE-TS approximator at {path}: fit one with "
                f"python -m steering.sae_ts fit --model {self.model_name} --layer {self.layer} "
                + (f"--sae {self.sae.sae_id}" if self.sae.release is None else f"--sae-id {self.sae.sae_id}")
            )
        approximator = Approximator.load(path)
        d_sae = approximator.b.shape[0]
        target = torch.zeros(d_sae)
        for feature, weight in targets:
            check_feature(feature, d_sae, f"the SAE-TS approximator {path.name}")
            target[feature] = weight
        return approximator.targeted_vector(target)

    def _resolve_one(self, spec: SteeringSpec) -> Tensor:
        key = self._key(spec)
        if key not in self._cache:
            if spec.vector == "sae" and spec.targets:
                vector = self._weighted_rows(spec.targets)
            elif spec.vector == "sae":
                # prefetch cached every in-range feature: only an out-of-range one gets here
                check_feature(spec.feature, self._d_sae or 0, self.sae.name)
                raise RuntimeError(f"feature {spec.feature} was not prefetched")
            elif spec.vector == "diff_of_means":
                positive, negative = load_contrast(spec.contrast or self.contrast)
                vector = diff_of_means(self.model, self.tokenizer, self.layer, positive, negative).cpu()
            elif spec.vector == "sae_ts":
                vector = self._sae_ts_vector(spec.targets or ((spec.feature, 1.0),))
            else:
                vector = load_vector_file(spec.vector)
            if vector.shape[0] != self.model.config.hidden_size:
                raise ValueError(
                    f"vector {spec.vector!r} has {vector.shape[0]} dimensions "
                    f"but the model's hidden size is {self.model.config.hidden_size}"
                )
            self._cache[key] = vector / vector.norm() if spec.normalize else vector
        return self._cache[key]
