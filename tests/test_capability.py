"""The capability-tax sweep: any task at several alphas and methods, one log per setting, read back as a curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import match
from inspect_ai.solver import generate

from evals.analysis.capability import (
    UNSTEERED,
    capability_samples,
    capability_summary,
    retained,
    with_capability,
    write_capability,
)
from evals.capability import Setting, main, run_capability, settings
from evals.facts import facts_dataset
from steering.prompting import instructed

FEATURE = 5


def _task() -> Task:
    """Not ours: three questions whose target is whatever the unsteered tiny model says first."""
    return Task(
        dataset=[Sample(input=q, target="the", id=f"q{i}") for i, q in enumerate(["One.", "Two.", "Three."])],
        solver=generate(),
        scorer=match(location="any"),
        config=GenerateConfig(temperature=0.0, max_tokens=6),
    )


def test_settings_are_unsteered_once_each_steered_cell_and_prompting():
    chosen = settings([0.0, 10.0, 20.0], ["add", "add_renorm"], instruction="Answer in French.")
    assert chosen[0] == Setting() and chosen[-1] == Setting(instruction="Answer in French.")
    assert [(s.alpha, s.method) for s in chosen[1:-1]] == [
        (10.0, "add"), (20.0, "add"), (10.0, "add_renorm"), (20.0, "add_renorm"),
    ]  # fmt: skip
    assert Setting(10.0, "add").model_args() == {"alpha": 10.0, "method": "add"}


def test_the_sweep_writes_one_log_per_setting_and_reads_back_a_curve(tiny_model_dir, tiny_sae_dir, tmp_path):
    args = {"sae": str(tiny_sae_dir), "layer": 2, "feature": FEATURE}
    success, logs = run_capability(
        _task(), f"steered/{tiny_model_dir}", args, [0, 40], ["add", "add_renorm"], tmp_path / "logs",
        instruction="Say it in French: {prompt}", display="none",
    )  # fmt: skip
    assert success and len(logs) == 4  # unsteered, add 40, add_renorm 40, prompting
    logs = [read_eval_log(log.location) for log in logs]
    assert sorted(str(log.eval.model_args.get("alpha")) for log in logs) == ["0.0", "0.0", "40.0", "40.0"]
    prompted = next(log for log in logs if log.eval.model_args.get("instruction"))
    (call,) = [e for e in prompted.samples[0].events if e.event == "model"]
    assert call.call.request["messages"][-1]["content"] == "Say it in French: One."
    assert call.call.request["steering"]["alpha"] == 0.0

    samples = capability_samples([tmp_path / "logs"])
    assert set(samples["method"]) == {UNSTEERED, "add", "add_renorm", "prompting"} and len(samples) == 12
    summary = capability_summary(samples)
    add = summary[summary["method"] == "add"].sort_values("alpha")
    assert list(add["alpha"]) == [0.0, 40.0] and add["n"].tolist() == [3, 3]  # alpha 0 is the unsteered log
    (plain,) = [log for log in logs if log.eval.model_args["alpha"] == 0 and "instruction" not in log.eval.model_args]
    unsteered_accuracy = np.mean(["the" in s.output.completion.casefold() for s in plain.samples])
    assert add["mean"].iloc[0] == pytest.approx(unsteered_accuracy)

    result = write_capability([tmp_path / "logs"], tmp_path / "out")
    assert (tmp_path / "out" / "capability.csv").exists() and result["plot"].path.exists()
    assert result["plot"].clipped == [] and set(result["plot"].points) == {"add", "add_renorm"}


def test_capability_retained_is_a_paired_ratio_with_an_interval():
    rows = [("unsteered", 0.0, f"s{i}", v) for i, v in enumerate([1, 1, 1, 1, 0, 0, 1, 1])]
    rows += [("add", 50.0, f"s{i}", v) for i, v in enumerate([1, 0, 1, 0, 0, 0, 1, 0])]
    samples = pd.DataFrame(rows, columns=["method", "alpha", "sample_id", "value"]).assign(
        epoch=1, model="m", task="t", metric="match"
    )
    result = retained(samples, "add", 50.0)
    assert result["retained"] == pytest.approx(3 / 6) and result["n"] == 8
    assert result["ci95_low"] < 0.5 < result["ci95_high"] <= 1.0
    assert retained(samples, "add", 0.0)["retained"] == pytest.approx(1.0)
    board = pd.DataFrame([{"model": "m", "source": "diff_of_means", "method": "add", "alpha": 50.0}])
    assert with_capability(board, samples)["capability_retained"].iloc[0] == pytest.approx(0.5)


def test_the_instruction_goes_into_the_first_user_turn_only():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "Q"}, {"role": "user", "content": "R"}]
    assert [m["content"] for m in instructed(messages, "Answer in French.")] == ["s", "Q\n\nAnswer in French.", "R"]
    assert instructed(messages, "Réponds : {prompt}")[1]["content"] == "Réponds : Q"


def test_bad_capability_arguments_fail_before_anything_runs(tiny_model_dir, tmp_path, capsys):
    base = ["run", "evals/facts.py", "--model", f"steered/{tiny_model_dir}", "--log-dir", str(tmp_path)]
    assert main([*base, "--alphas", "1,x"]) == 2 and "'x' is not a number" in capsys.readouterr().err
    assert main([*base, "--alphas", "1", "--methods", "shove"]) == 2
    assert "unknown steering method 'shove'" in capsys.readouterr().err
    assert main([*base, "--alphas", "1", "-M", "alpha=3"]) == 2 and "set per setting" in capsys.readouterr().err
    assert main([*base, "--alphas", "1", "-M", "feature=5", "-M", "share=maybe"]) == 2
    with pytest.raises(ValueError, match="n must be an integer from 1 to 60"):
        facts_dataset(61)
    assert not list(tmp_path.glob("*.eval"))
