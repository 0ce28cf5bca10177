"""The registry of direction sources: where a steering vector comes from, by name.

A source is one small class in its own file of this package that registers itself; task arguments,
the steering spec, concept files, the resolver that builds vectors, the curves and the leaderboard all
ask this registry, so a new source touches nothing else. Importing it loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from torch import Tensor

    from steering.spec import SteeringSpec


class Source:
    """One way to get a direction. Subclasses set ``name`` and ``summary`` and implement ``build``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    """One line for error messages and docs: what the direction is."""
    takes_feature: ClassVar[bool] = False
    """It reads SAE features (``feature`` or weighted ``targets``), so an SAE is part of its identity."""
    takes_contrast: ClassVar[bool] = False
    """It reads a contrast set (``contrast``)."""

    def accepts(self, vector: str) -> bool:
        """Whether this source handles a ``vector`` value (by default: the value is the source's name)."""
        return vector == self.name

    def check(self, vector: str) -> None:
        """Validate a ``vector`` value before anything loads (e.g. that a file exists); raise ValueError."""

    def sae_features(self, spec: SteeringSpec) -> list[int]:
        """The SAE features whose decoder rows ``build`` reads (loaded for a whole batch at once)."""
        return []

    def files(self, vector: str) -> list[str]:
        """Local files whose content the direction depends on (fingerprinted into the generation cache key)."""
        return []

    def cache_key(self, spec: SteeringSpec, context: Any) -> tuple:
        """What identifies the built direction for one loaded model and layer."""
        return (spec.vector, spec.feature, spec.targets, spec.contrast)

    def build(self, spec: SteeringSpec, context: Any) -> Tensor:
        """The direction (one vector of the model's hidden size) for ``spec`` (``context``: the resolver)."""
        raise NotImplementedError

    def describe(self, vector: str, feature: object, sae: str) -> str:
        """The source of a curve, in words (plot titles, terminal view)."""
        return self.label(vector, feature)

    def label(self, vector: str, feature: object) -> str:
        """The source's short name on the leaderboard."""
        return self.name


_SOURCES: dict[str, Source] = {}


def register_source(source: Source) -> Source:
    """Add a source; a second source under the same name is refused (as sae-lens's registries do)."""
    if source.name in _SOURCES:
        raise ValueError(f"a direction source named {source.name!r} is already registered ({_SOURCES[source.name]!r})")
    _SOURCES[source.name] = source
    return source


def unregister_source(name: str) -> None:
    """Remove a source (tests that register one of their own clean up with this)."""
    _SOURCES.pop(name, None)


def source_names() -> list[str]:
    _load_builtin()
    return list(_SOURCES)


def get_source(vector: object) -> Source:
    """The source of a ``vector`` value: a registered name, else the first source that accepts the value."""
    _load_builtin()
    if isinstance(vector, str) and vector:
        if vector in _SOURCES:
            return _SOURCES[vector]
        for source in _SOURCES.values():
            if source.accepts(vector):
                return source
    choices = "; ".join(f"{s.name} ({s.summary})" for s in _SOURCES.values())
    raise ValueError(f"unknown vector {vector!r}: use one of {choices}")


def names_that(attribute: str) -> str:
    """The registered sources with a capability, for messages: ``'sae' or 'sae_ts'``."""
    _load_builtin()
    return " or ".join(repr(s.name) for s in _SOURCES.values() if getattr(s, attribute))


def takes_feature(vector: str) -> bool:
    try:
        return get_source(vector).takes_feature
    except ValueError:
        return False


def describe(vector: str, feature: object, sae: str) -> str:
    try:
        return get_source(vector).describe(vector, feature, sae)
    except ValueError:
        return f"vector {vector}"


def label(vector: str, feature: object) -> str:
    try:
        return get_source(vector).label(vector, feature)
    except ValueError:
        return str(vector)


def feature_text(feature: object) -> str:
    """A feature id (``12332``) or weighted targets (``8392:0.5,15769:0.5``) as text."""
    return feature if isinstance(feature, str) else str(int(feature))  # type: ignore[call-overload]


def is_weighted(value: object) -> bool:
    """Whether a ``feature`` value names weighted targets (``8392:0.5,...``, its CLI list form, or JSON)."""
    if isinstance(value, dict):
        return True
    items = value if isinstance(value, list | tuple) else [value]
    return any(isinstance(v, str) and (":" in v or v.strip().startswith("{")) for v in items)


def _load_builtin() -> None:
    import steering.sources  # noqa: F401  (registers the built-in sources)
