"""A vector file: a direction saved as .safetensors (one tensor) or .npy, read without unpickling."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from steering.sources.registry import Source, register_source

if TYPE_CHECKING:
    from torch import Tensor

    from steering.spec import SteeringSpec

SUFFIXES = (".safetensors", ".npy")


class VectorFile(Source):
    name = "file"
    summary = "a .safetensors/.npy path holding one vector"

    def accepts(self, vector: str) -> bool:
        return vector.endswith(SUFFIXES)

    def check(self, vector: str) -> None:
        if not Path(vector).is_file():
            raise ValueError(f"vector file {vector!r} does not exist")

    def files(self, vector: str) -> list[str]:
        return [vector]

    def build(self, spec: SteeringSpec, context: Any) -> Tensor:
        from steering.directions import load_vector_file

        return load_vector_file(spec.vector)

    def describe(self, vector: str, feature: object, sae: str) -> str:
        return f"vector {vector}"

    def label(self, vector: str, feature: object) -> str:
        return f"vector {Path(str(vector)).stem}"


register_source(VectorFile())
