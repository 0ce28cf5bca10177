"""Turning steering specs into direction tensors for one loaded model and layer, cached.

The registered source builds each vector; the resolver owns what they share: the SAE (loaded once
for every decoder row a batch needs, then dropped), the cache, normalisation and the size check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from torch import Tensor

from steering.directions import SaeRef, check_feature, check_sae_fits, load_sae, sae_feature_directions
from steering.sources.registry import get_source
from steering.spec import SteeringSpec


class DirectionResolver:
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
        hidden_size: int | None = None,
    ):
        """``model`` may be a loader (a callable returning the HF model): the vLLM engine builds vectors that
        need activations (differences of means) on the HF model, loaded only when such a vector is asked for."""
        self._model: Any = None if callable(model) and not hasattr(model, "config") else model
        self._load_model: Callable[[], Any] | None = model if self._model is None else None
        self.hidden_size = hidden_size if hidden_size is not None else self._model.config.hidden_size
        self.tokenizer, self.layer = tokenizer, layer
        self.sae, self.contrast, self.converter = sae, contrast, converter
        self.sae_ts, self.model_name = sae_ts, model_name
        self._cache: dict[tuple, Tensor] = {}
        self._rows: dict[int, Tensor] = {}
        self._d_sae: int | None = None
        self._lock = threading.RLock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                assert self._load_model is not None
                self._model = self._load_model()
            return self._model

    def prefetch(self, specs: list[SteeringSpec]) -> None:
        """Load the decoder rows every spec of a batch needs with one SAE load.

        Features out of the SAE's range are skipped here and fail their own spec in ``resolve``.
        """
        with self._lock:
            wanted = {feature for spec in specs for feature in get_source(spec.vector).sae_features(spec)}
            missing = sorted(f for f in wanted if f not in self._rows)
            if missing:
                self._load_sae_rows(missing)

    def resolve(self, specs: list[SteeringSpec]) -> list[Tensor]:
        self.prefetch(specs)
        with self._lock:
            return [self._resolve_one(spec) for spec in specs]

    def sae_rows(self, features: list[int]) -> dict[int, Tensor]:
        """Raw decoder rows of the provider's SAE; an out-of-range feature is an error naming the valid range."""
        with self._lock:
            if any(f not in self._rows for f in features):
                self._load_sae_rows([f for f in features if f not in self._rows])
            for feature in features:
                if feature not in self._rows:
                    check_feature(feature, self._d_sae or 0, self.sae.name)
            return {feature: self._rows[feature] for feature in features}

    def _load_sae_rows(self, features: list[int]) -> None:
        # once the SAE's width is known, features outside it never trigger another load
        if self._d_sae is not None and not any(isinstance(f, int) and 0 <= f < self._d_sae for f in features):
            return
        sae = load_sae(self.sae, converter=self.converter)
        check_sae_fits(
            d_in=sae.cfg.d_in,
            hook_name=sae.cfg.metadata.hook_name,
            hidden_size=self.hidden_size,
            layer=self.layer,
            sae_name=self.sae.name,
        )
        self._d_sae = sae.cfg.d_sae
        in_range = [f for f in features if isinstance(f, int) and 0 <= f < self._d_sae]
        self._rows.update(sae_feature_directions(sae, in_range, sae_name=self.sae.name).rows)
        del sae  # the encoder and the other decoder rows are not kept

    def _resolve_one(self, spec: SteeringSpec) -> Tensor:
        source = get_source(spec.vector)
        key = (*source.cache_key(spec, self), spec.normalize)
        if key not in self._cache:
            vector = source.build(spec, self)
            if vector.shape[0] != self.hidden_size:
                raise ValueError(
                    f"vector {spec.vector!r} has {vector.shape[0]} dimensions "
                    f"but the model's hidden size is {self.hidden_size}"
                )
            self._cache[key] = vector / vector.norm() if spec.normalize else vector
        return self._cache[key]
