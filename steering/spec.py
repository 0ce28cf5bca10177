"""The per-sample steering request that travels in ``GenerateConfig.extra_body["steering"]``.

It is validated strictly because it is logged with every model call and is part of
Inspect's cache key: a typo must fail loudly, not silently generate unsteered text.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from steering.methods import get_method
from steering.sources.registry import get_source, names_that


@dataclass(frozen=True)
class SteeringSpec:
    alpha: float
    method: str = "add"
    feature: int | None = None
    vector: str = "sae"
    normalize: bool = False
    contrast: str | None = None
    """The contrast set of a diff_of_means vector (a name in prompts/contrast or a path); None: the provider's."""
    targets: tuple[tuple[int, float], ...] | None = None
    """Weighted targets ((feature, weight), ...) in place of one ``feature``: for ``sae_ts`` the target effect,
    for ``sae`` the unit-normalised weighted sum of decoder rows (the SAE-TS authors' feature steering)."""

    def __post_init__(self) -> None:
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float) or not math.isfinite(self.alpha):
            raise ValueError(f"steering alpha must be a finite number, got {self.alpha!r}")
        get_method(self.method)
        if self.feature is not None and (isinstance(self.feature, bool) or not isinstance(self.feature, int)):
            raise ValueError(f"steering feature must be an integer SAE feature id, got {self.feature!r}")
        source = get_source(self.vector)  # an unknown vector is an error naming the registered sources
        if self.targets is not None:
            object.__setattr__(self, "targets", check_targets(self.targets))
            if not source.takes_feature or self.feature is not None:
                raise ValueError(
                    f"weighted targets work with vector {names_that('takes_feature')}, in place of a single feature; "
                    f"got vector={self.vector!r}, feature={self.feature!r}"
                )
        elif source.takes_feature and self.feature is None:
            raise ValueError(f"vector={self.vector!r} needs a feature id")
        if self.contrast is not None and (not source.takes_contrast or not isinstance(self.contrast, str)):
            raise ValueError(
                f"steering contrast {self.contrast!r} needs vector={names_that('takes_contrast')}, got {self.vector!r}"
            )
        if not isinstance(self.normalize, bool):
            raise ValueError(f"steering normalize must be true or false, got {self.normalize!r}")

    def to_dict(self) -> dict[str, Any]:
        # the contrast key only when set: logged specs and cache keys of earlier runs stay the same
        data = asdict(self)
        for key in ("contrast", "targets"):
            if data[key] is None:
                del data[key]
        if "targets" in data:
            data["targets"] = [list(pair) for pair in self.targets]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SteeringSpec:
        if not isinstance(data, dict):
            raise ValueError(f"steering must be a mapping, got {data!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown steering keys {unknown}: valid keys are {sorted(known)}")
        if "alpha" not in data:
            raise ValueError("steering needs an alpha")
        if data.get("targets") is not None:
            data = {**data, "targets": check_targets(data["targets"])}
        return cls(**data)


def check_targets(targets: object) -> tuple[tuple[int, float], ...]:
    """((feature, weight), ...) with integer features, finite non-zero weights and no feature twice."""
    try:
        pairs = tuple((feature, weight) for feature, weight in targets)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"targets must be (feature, weight) pairs, got {targets!r}") from None
    if not pairs:
        raise ValueError("targets are empty: give at least one feature:weight pair")
    for feature, weight in pairs:
        if isinstance(feature, bool) or not isinstance(feature, int) or feature < 0:
            raise ValueError(f"target feature must be a non-negative integer, got {feature!r}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or not weight:
            raise ValueError(f"target weight of feature {feature} must be a finite non-zero number, got {weight!r}")
    features = [feature for feature, _ in pairs]
    if len(set(features)) != len(features):
        raise ValueError(f"a target feature is listed twice: {features}")
    return tuple((int(feature), float(weight)) for feature, weight in pairs)


def parse_targets(text: str | list[str] | tuple[str, ...] | dict[str, float]) -> tuple[tuple[int, float], ...]:
    """``"8392:0.5,15769:0.5"`` (or a JSON object ``{"8392": 0.5, ...}``) -> ((8392, 0.5), (15769, 0.5)).

    Inspect's CLI splits ``-T feature=8392:0.5,15769:0.5`` at the comma: a list of pairs is taken too.
    """
    if isinstance(text, dict):  # the CLI reads a JSON object argument as a mapping
        text = json.dumps(text)
    text = ",".join(str(item) for item in text) if isinstance(text, list | tuple) else text.strip()
    if text.startswith("{"):
        try:
            return check_targets([(int(k), v) for k, v in json.loads(text).items()])
        except (json.JSONDecodeError, ValueError, AttributeError) as error:
            raise ValueError(f"weighted targets {text!r} are not a JSON object of feature: weight ({error})") from None
    pairs = []
    for item in text.split(","):
        feature, _, weight = item.partition(":")
        try:
            pairs.append((int(feature), float(weight)))
        except ValueError:
            raise ValueError(f"weighted target {item!r} is not feature:weight (e.g. 8392:0.5,15769:0.5)") from None
    return check_targets(pairs)


def targets_label(targets: tuple[tuple[int, float], ...]) -> str:
    return ",".join(f"{feature}:{weight:g}" for feature, weight in targets)


def spec_from_extra_body(extra_body: dict[str, Any] | None) -> SteeringSpec | None:
    """The steering of one generate call; None when the call asks for none (an unsteered model)."""
    if not extra_body:
        return None
    unknown = sorted(set(extra_body) - {"steering"})
    if unknown:
        raise ValueError(f"unknown extra_body keys {unknown} for a steered model: only 'steering' is accepted")
    return SteeringSpec.from_dict(extra_body["steering"])
