"""Concept files for the suite: one JSON object per line, each a behaviour and the directions that steer it.

{"name": "french", "criterion": "The text contains French words and French language.",
 "instruction": "Answer in French.", "language": "fr",
 "directions": [{"vector": "sae", "feature": 12332}, {"vector": "diff_of_means", "contrast": "french_english"}]}

``directions`` lists every source to compare: an SAE feature's decoder row (``sae``), the SAE-TS
vector targeting it (``sae_ts``), a difference of means over a contrast set (``diff_of_means`` with
``contrast``: a name in prompts/contrast or a path), or a .safetensors/.npy vector file. ``language``
(optional) turns on the offline behaviour score ``language_share``. Everything is checked when the
file is read, before any model loads; an error names the file, line, concept and what is valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from evals.metrics import LANGUAGES
from steering import shipped_file
from steering.sources import load_contrast
from steering.sources.registry import get_source, names_that

CONCEPT_KEYS = ("name", "criterion", "instruction", "directions", "language", "description")
DIRECTION_KEYS = ("vector", "feature", "contrast")
DEFAULT_SAE_WIDTH = 16384
"""Features of the default SAE (layer_20/width_16k); another SAE's width is passed as -T sae_width=N."""


@dataclass(frozen=True)
class Direction:
    vector: str
    feature: int | None = None
    contrast: str | None = None

    @property
    def label(self) -> str:
        """Names the source in sample ids and on the leaderboard: ``sae-12332``, ``diff_of_means-spanish_english``."""
        if self.feature is not None:
            return f"{self.vector}-{self.feature}"
        if self.contrast is not None:
            return f"{self.vector}-{Path(self.contrast).stem}"
        return Path(self.vector).stem


@dataclass(frozen=True)
class Concept:
    name: str
    criterion: str
    instruction: str | None
    directions: tuple[Direction, ...]
    language: str | None = None
    description: str | None = None
    """What the concept is, in a phrase (AxBench's concept judge reads it); the criterion when not given."""

    @property
    def described(self) -> str:
        return self.description or self.criterion


FEATURE_LIST = (".txt", ".csv")
"""A concept list of ``feature, description`` lines (AxBench's Concept500 style), one SAE feature each."""
FEATURE_CRITERION = "The text is about {description}."
FEATURE_INSTRUCTION = "In your answer, include content related to: {description}."


def load_concepts(name_or_path: str, sae_width: int = DEFAULT_SAE_WIDTH) -> list[Concept]:
    path = shipped_file(name_or_path, "concepts", ".jsonl", "concept file")
    concepts: list[Concept] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            where = f"{path}, line {number}"
            read = _feature_line if path.suffix in FEATURE_LIST else _concept
            concepts.append(read(line, where, sae_width))
            if [c.name for c in concepts].count(concepts[-1].name) > 1:
                raise ValueError(f"{where}: concept name {concepts[-1].name!r} is used twice")
    if not concepts:
        raise ValueError(f"{path} holds no concepts")
    return concepts


def _feature_line(line: str, where: str, sae_width: int) -> Concept:
    """``12332, French language text``: the SAE feature, steered by its decoder row, and its description."""
    feature, _, description = (part.strip() for part in line.partition(","))
    if not feature.isdigit() or not description:
        raise ValueError(f"{where}: a concept line is 'feature, description' (e.g. '12332, French'), got {line!r}")
    direction = _direction({"vector": "sae", "feature": int(feature)}, where, sae_width)
    return Concept(
        name=f"feature-{feature}",
        criterion=FEATURE_CRITERION.format(description=description),
        instruction=FEATURE_INSTRUCTION.format(description=description),
        directions=(direction,),
        description=description,
    )


def _concept(line: str, where: str, sae_width: int) -> Concept:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error.msg}): {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a concept is a JSON object, got {line[:80]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"{where}: concept name must be lower-case letters, digits, '_' or '-', got {name!r}")
    where = f"{where} (concept {name!r})"
    unknown = sorted(set(data) - set(CONCEPT_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid keys are {list(CONCEPT_KEYS)}")
    criterion, instruction = data.get("criterion"), data.get("instruction")
    if not isinstance(criterion, str) or not criterion.strip():
        raise ValueError(f"{where}: 'criterion' must be the judge's criterion sentence, got {criterion!r}")
    if instruction is not None and (not isinstance(instruction, str) or not instruction.strip()):
        raise ValueError(
            f"{where}: 'instruction' must ask for the behaviour in words (or be null), got {instruction!r}"
        )
    language = data.get("language")
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"{where}: language {language!r} cannot be measured offline; use one of {list(LANGUAGES)}")
    directions = data.get("directions")
    if not isinstance(directions, list) or not directions:
        raise ValueError(f"{where}: 'directions' must be a non-empty list of direction objects")
    parsed = tuple(_direction(item, where, sae_width) for item in directions)
    labels = [d.label for d in parsed]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{where}: a direction is listed twice: {labels}")
    description = data.get("description")
    if description is not None and (not isinstance(description, str) or not description.strip()):
        raise ValueError(f"{where}: 'description' must name the concept in a phrase, got {description!r}")
    return Concept(name, criterion, instruction, parsed, language, description)


def _direction(item: object, where: str, sae_width: int) -> Direction:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: a direction is an object like {{'vector': 'sae', 'feature': 12332}}, got {item!r}")
    unknown = sorted(set(item) - set(DIRECTION_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown direction keys {unknown}; valid keys are {list(DIRECTION_KEYS)}")
    vector, feature, contrast = item.get("vector"), item.get("feature"), item.get("contrast")
    try:
        source = get_source(vector)
        source.check(vector)
    except ValueError as error:
        raise ValueError(f"{where}: direction {error}") from None
    if source.takes_feature:
        if isinstance(feature, bool) or not isinstance(feature, int) or not 0 <= feature < sae_width:
            raise ValueError(
                f"{where}: feature {feature!r} is out of range for a {sae_width}-feature SAE (0..{sae_width - 1}); "
                "set -T sae_width=N when the provider's SAE is another width"
            )
    elif feature is not None:
        raise ValueError(f"{where}: 'feature' belongs to vector {names_that('takes_feature')}, not {vector!r}")
    if source.takes_contrast:
        if not isinstance(contrast, str) or not contrast:
            raise ValueError(f"{where}: vector {vector!r} needs a 'contrast' set (prompts/contrast name or path)")
        try:
            load_contrast(contrast)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    elif contrast is not None:
        raise ValueError(f"{where}: 'contrast' belongs to vector {names_that('takes_contrast')}, not {vector!r}")
    return Direction(vector, feature, contrast)
