"""Held-out checks of a calibrated metric: constants fitted on some labelled rows, the score read on the others.

A metric whose constants were fitted on its labelled set and whose AUC is reported on the same set
overstates itself; stratified k-fold fitting gives the figure a new reply would see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

FOLDS = 5


def folds(
    labels: Sequence[object], k: int = FOLDS, seed: int = 0, groups: Sequence[object] | None = None
) -> np.ndarray:
    """Fold of each row: the rows of each label shuffled and dealt round-robin, so every fold holds every label.

    ``groups``: rows of one group (one reply under several prompts) are dealt together, by their group's first
    label, so no fold is fitted on a row whose twin it is scored on."""
    fold = np.zeros(len(labels), dtype=int)
    rng = np.random.default_rng(seed)
    if groups is not None:
        first: dict[object, object] = {}
        for group, label in zip(groups, labels):
            first.setdefault(group, label)
        keys = list(first)
        dealt = folds([first[g] for g in keys], k, seed)
        where = dict(zip(keys, dealt))
        return np.array([where[g] for g in groups], dtype=int)
    for label in sorted(set(labels), key=str):
        rows = rng.permutation([i for i, value in enumerate(labels) if value == label])
        fold[rows] = np.arange(len(rows)) % k
    return fold


def held_out_scores(
    features: np.ndarray,
    labels: Sequence[bool],
    fit: Callable[[np.ndarray, np.ndarray], tuple[float, ...]],
    score: Callable[[np.ndarray, tuple[float, ...]], np.ndarray],
    k: int = FOLDS,
    groups: Sequence[object] | None = None,
) -> tuple[np.ndarray, list[tuple[float, ...]]]:
    """Each row's score under constants ``fit(features, labels)`` on the other folds, and each fold's constants."""
    features, labels = np.asarray(features, float), np.asarray(labels, bool)
    fold = folds(list(labels), k, groups=groups)
    scores, constants = np.zeros(len(labels)), []
    for held in range(k):
        train = fold != held
        fitted = fit(features[train], labels[train])
        constants.append(fitted)
        scores[~train] = score(features[~train], fitted)
    return scores, constants
