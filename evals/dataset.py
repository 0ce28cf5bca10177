"""The sweep dataset: prompts x alphas x methods, one sample each, so one log holds a whole sweep."""

from __future__ import annotations

import json
from pathlib import Path

from inspect_ai.dataset import MemoryDataset, Sample

from steering import PROMPTS_DIR
from steering.sources.registry import get_source, takes_feature

PROMPTING = "prompting"
"""The method and vector of prompting-reference samples (evals.scorers uses the same name)."""


def load_prompts(path: str | Path | None = None, limit: int | None = None) -> list[dict[str, str]]:
    """``{"id", "prompt"}`` records from a JSONL file (default: the neutral English instructions)."""
    path = Path(path) if path else PROMPTS_DIR / "instructions.jsonl"
    if not path.is_file():
        raise ValueError(f"prompt file {str(path)!r} does not exist")
    records, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg}): {line[:80]!r}") from None
        if not isinstance(record, dict) or not {"id", "prompt"} <= set(record):
            raise ValueError(f"{path}, line {number}: needs an object with 'id' and 'prompt', got {line[:80]!r}")
        if not isinstance(record["prompt"], str) or not record["prompt"].strip():
            raise ValueError(f"{path}, line {number}: prompt {record['id']!r} is empty")
        if record["id"] in seen:
            raise ValueError(f"{path}, line {number}: prompt id {record['id']!r} is used twice")
        seen.add(record["id"])
        records.append({**record, "id": str(record["id"])})
    if not records:
        raise ValueError(f"{path} holds no prompts")
    return records[:limit] if limit else records


def alpha_label(alpha: float) -> str:
    return f"{alpha:+g}"


def _vector_label(vector: str) -> str:
    return Path(vector).stem if get_source(vector).files(vector) else vector


def sweep_dataset(
    prompts: list[dict[str, str]],
    alphas: list[float],
    methods: list[str],
    feature: int | None,
    vectors: list[str] | None = None,
    name: str = "sweep",
    instruction: str | None = None,
    targets: str | None = None,
    feature_sae: str | None = None,
) -> MemoryDataset:
    """Short ids that sort by alpha and show it first (``03:+40/add/p00``; the vector last when several),
    stable across runs so a resumed or retried run lines samples up; alpha, method, feature, vector as metadata.

    With an ``instruction`` each prompt is also run unsteered with the instruction appended
    (``P:prompting/p00``): the prompting reference every steering curve is read against.
    """
    # feature_sae: the SAE a task's default feature belongs to (the solver refuses it under another SAE)
    extra = {**({"targets": targets} if targets else {}), **({"feature_sae": feature_sae} if feature_sae else {})}
    return MemoryDataset(
        [
            *steering_samples(prompts, alphas, methods, feature, vectors, extra=extra),
            *prompting_samples(prompts, instruction),
        ],
        name=name,
    )


def prompting_samples(
    prompts: list[dict[str, str]],
    instruction: str | None,
    prefix: str = "",
    extra: dict[str, object] | None = None,
) -> list[Sample]:
    """Unsteered samples that ask for the behaviour in words; the judges see the prompt without it."""
    if not instruction:
        return []
    return [
        Sample(
            id=f"{prefix}P:{PROMPTING}/{record['id']}",
            input=record["prompt"],
            metadata={
                "prompt_id": record["id"],
                "alpha": 0.0,
                "method": PROMPTING,
                "feature": None,
                "vector": PROMPTING,
                "instruction": instruction,
                **(extra or {}),
            },
        )
        for record in prompts
    ]


def steering_samples(
    prompts: list[dict[str, str]],
    alphas: list[float],
    methods: list[str],
    feature: int | None,
    vectors: list[str] | None = None,
    prefix: str = "",
    extra: dict[str, object] | None = None,
) -> list[Sample]:
    vectors = vectors or ["sae"]
    width = len(str(len(alphas) - 1))
    return [
        Sample(
            id=f"{prefix}{index:0{width}d}:{alpha_label(alpha)}/{method}/{record['id']}"
            + (f"/{_vector_label(vector)}" if len(vectors) > 1 else ""),
            input=record["prompt"],
            metadata={
                "prompt_id": record["id"],
                "alpha": alpha,
                "method": method,
                # only a source that reads an SAE feature carries one (a difference of means has none)
                "feature": feature if takes_feature(vector) else None,
                "vector": vector,
                **(extra or {}),
            },
        )
        # alpha before method: a prompt's alpha-0 rows (one reply under every method that is the identity
        # there) are in flight together, so the provider generates that reply once (steering.provider.sharing)
        for vector in vectors
        for index, alpha in enumerate(sorted(alphas))
        for method in methods
        for record in prompts
    ]
