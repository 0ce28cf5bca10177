"""One statistics module: the analysis of a log written before the reshaping is unchanged, and every report
names the same best cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).parent / "data" / "analysis"


def test_a_log_written_before_the_move_gives_the_same_tables(tmp_path):
    # french-tiny.eval and expected/ were written by the code before evals/analysis existed; since then two
    # things changed on purpose: combined_offline is french_share x fluency_offline, which that log lacks, and
    # every interval is a percentile bootstrap over prompts (the old ones: t-intervals and row bootstraps)
    from evals.curves import write_outputs

    write_outputs([DATA / "french-tiny.eval"], tmp_path)
    expected = pd.read_csv(DATA / "expected" / "summary.csv")
    actual = pd.read_csv(tmp_path / "summary.csv")
    assert set(expected["scorer"]) - set(actual["scorer"]) == {"combined_offline"}
    expected = expected[expected["scorer"] != "combined_offline"].reset_index(drop=True)
    kept = [c for c in expected.columns if c not in ("sem", "ci95_low", "ci95_high")]
    pd.testing.assert_frame_equal(actual[kept], expected[kept], check_exact=False, rtol=1e-9, atol=1e-12)
    assert (actual["n_failed"] == 0).all() and (actual["mean_scored"] - actual["mean"]).abs().max() < 1e-12
    assert (actual["ci95_low"] <= actual["mean"] + 1e-12).all()
    assert (actual["mean"] <= actual["ci95_high"] + 1e-12).all()
    # no combined score to pick from: `inspect score LOG --scorer evals/scorers.py@fluency_offline` adds one
    assert (tmp_path / "leaderboard.csv").read_text().strip() == ""


def _tied_table() -> pd.DataFrame:
    """Two methods whose combined score is the same at alphas -2, 2 and 4 on every prompt (and lower at 0)."""
    rows = []
    for method in ("add", "add_renorm"):
        for alpha, share in ((-2.0, 0.8), (0.0, 0.1), (2.0, 0.8), (4.0, 0.8)):
            for prompt in ("p0", "p1", "p2", "p3"):
                rows.append({"method": method, "alpha": alpha, "prompt_id": prompt, "french_share": share})
    for prompt in ("p0", "p1", "p2", "p3"):
        rows.append(
            {"method": "prompting", "alpha": 0.0, "prompt_id": prompt, "french_share": 0.2, "vector": "prompting"}
        )
    table = pd.DataFrame(rows)
    table["fluency_offline"] = 0.5
    defaults = {"task": "t", "concept": "-", "model": "m", "sae": "-", "layer": 6, "positions": "all",
                "feature": np.nan, "vector": "diff_of_means", "settings": "-"}  # fmt: skip
    for key, value in defaults.items():
        table[key] = table[key].fillna(value) if key in table else value
    table["epoch"], table["sample_id"] = 1, table["method"] + table["alpha"].astype(str) + table["prompt_id"]
    return table


def test_summary_best_alpha_leaderboard_and_terminal_name_the_same_cell_on_ties():
    from evals.analysis.leaderboard import leaderboard
    from evals.analysis.reports import compact
    from evals.analysis.stats import best_alphas, best_cell, summarize

    table = _tied_table()
    best = best_alphas(table)
    # the rule: highest score, then smallest |alpha|, then the lower alpha, then the name
    assert set(best["alpha_insample"]) == {-2.0} and set(best["alpha_heldout"]) == {-2.0}
    board = leaderboard(table)
    steered = board[board["source"] != "prompting"].iloc[0]
    assert (steered["method"], steered["alpha"]) == ("add", -2.0)  # the same alpha; methods tie -> by name
    assert "add: alpha -2 (combined_offline 0.40); held out: alpha -2" in compact(summarize(table), best)
    assert best_cell({("add", -2.0): 0.4, ("add", 2.0): 0.4}, alpha_of=lambda c: c[1]) == ("add", -2.0)
    assert best_cell({-3.0: 0.4, 3.0: 0.4, 1.0: float("nan")}) == -3.0
    assert best_cell({1.0: float("nan")}) is None


def test_the_paper_presets_max_product_uses_the_same_rule():
    from inspect_ai.scorer import SampleScore, Score

    from evals.sae_ts_paper import max_product

    scores = [
        SampleScore(
            score=Score(value={"behavior": 0.5, "coherence": 0.5}), sample_metadata={"vector": "sae", "alpha": a}
        )
        for a in (40.0, 20.0, 60.0)
    ]
    result = max_product()(scores)
    assert result["max_product"] == 0.25 and result["scale_at_max"] == 20.0


def test_intervals_of_0_1_scores_stay_in_0_1_and_too_few_prompts_say_why():
    from evals.analysis.stats import mean_estimate

    five = mean_estimate([0, 0, 0, 0, 1], ["a", "b", "c", "d", "e"])
    assert five.value == 0.2 and 0.0 <= five.low <= five.high <= 1.0  # a t-interval gave [-0.36, 0.76]
    one = mean_estimate([0.3, 0.5], ["a", "a"])
    assert one.value == 0.4 and np.isnan(one.low) and one.note == "1 prompt: no interval (needs 2)"


def test_copied_epochs_or_rows_do_not_narrow_an_interval():
    """The prompt is the unit: a prompt's rows travel together, so copying every row changes nothing."""
    from evals.analysis.stats import combined_estimate, mean_estimate

    rng = np.random.default_rng(1)
    values, prompts = rng.random(12), [f"p{i}" for i in range(12)]
    once = mean_estimate(values, prompts)
    twice = mean_estimate(np.concatenate([values, values]), prompts * 2)
    assert (twice.value, twice.low, twice.high) == pytest.approx((once.value, once.low, once.high))
    b, f = rng.random(12), rng.random(12)
    assert combined_estimate(np.tile(b, 3), np.tile(f, 3), prompts * 3).low == pytest.approx(
        combined_estimate(b, f, prompts).low
    )


def test_versus_prompting_pairs_prompts_and_counts_missing_rows_as_worst():
    from evals.analysis.stats import versus

    def rows(shares, fluency):
        return pd.DataFrame(
            {"prompt_id": [f"p{i}" for i in range(len(shares))], "french_share": shares, "fluency_offline": fluency}
        )

    steered = rows([1.0, 1.0, 1.0, 1.0], [0.5, 0.5, np.nan, 0.5])
    asked = rows([0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0])
    result = versus(steered, asked, "combined_offline")
    assert result["prompting_heldout"] == 0.5
    assert result["vs_prompting"] == pytest.approx(1.0 * 0.375 - 0.5)  # the unscored row as 0
    assert result["vs_prompting_low"] <= result["vs_prompting"] <= result["vs_prompting_high"] <= 0.0
