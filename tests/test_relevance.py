"""The offline relevance check: its arithmetic, and its held-out separation of matched from mismatched
(prompt, reply) pairs on the labelled set built from both demos' real replies (tests/data/relevance_labelled.jsonl)."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from evals.analysis.stats import auc
from evals.metrics import Surprise
from evals.metrics.calibration import folds
from evals.metrics.relevance import (
    CENTRE,
    WIDTH,
    gain,
    held_out_relevance,
    labelled_pairs,
    relevance_reports,
    relevance_score,
)

DATA = Path(__file__).parent / "data" / "relevance_labelled.jsonl"


def test_the_gain_is_the_nll_alone_minus_the_nll_after_the_prompt():
    after, alone = Surprise((1, 2, 3), (1.0, 2.0, 3.0)), Surprise((1, 2, 3), (2.0, 2.5, 4.5))
    assert gain(after, alone) == pytest.approx((1.0, 2.0, 3.0))
    assert all(math.isnan(x) for x in gain(Surprise((), ()), Surprise((), ())))
    assert relevance_score(CENTRE) == pytest.approx(0.5)
    assert relevance_score(CENTRE + 3 * WIDTH) > 0.95 and relevance_score(CENTRE - 3 * WIDTH) < 0.05
    assert relevance_score(math.nan) == 0.0  # an empty reply answers nothing


def test_folds_keep_a_replys_pairs_together_and_every_label_in_every_fold():
    labels = [True] * 10 + [False] * 10
    groups = list(range(10)) * 2  # reply i: its matched pair and its mismatched pair
    fold = folds(labels, k=5, groups=groups)
    assert all(fold[i] == fold[i + 10] for i in range(10))
    assert sorted(set(fold)) == [0, 1, 2, 3, 4]


@cache
def _measured() -> tuple[list[dict], list]:
    rows = [json.loads(line) for line in DATA.open()]
    pairs = labelled_pairs(rows)
    return pairs, relevance_reports([p["reply"] for p in pairs], [p["prompt"] for p in pairs])


@pytest.mark.slow
def test_matched_pairs_rank_above_mismatched_ones_held_out():
    pairs, reports = _measured()
    matched = [p["matched"] for p in pairs]
    sources = {p["source"] for p in pairs}
    assert {"gemma-3-270m", "smollm2-135m-instruct", "hand"} <= sources and sum(matched) >= 60
    scores, constants = held_out_relevance([r.gain for r in reports], matched, [p["group"] for p in pairs])
    held = auc([s for s, m in zip(scores, matched) if m], [s for s, m in zip(scores, matched) if not m])
    assert held >= 0.85, held
    assert len(constants) == 5
    # the shipped constants put matched pairs above 0.5 and mismatched below, on average
    shipped = np.array([r.value for r in reports])
    assert shipped[np.array(matched)].mean() > 0.5 > shipped[~np.array(matched)].mean()
    # a fluent reply written off the topic is not relevant
    hand = [r.value for p, r in zip(pairs, reports) if p["kind"] == "off_topic"]
    assert np.mean(hand) < 0.35
