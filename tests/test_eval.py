"""End-to-end: the french task through Inspect on the tiny fixture model, graded offline."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog, read_eval_log

from evals.french import french
from evals.scorers import judge_grade
from evals.stub_grader import length_grade

REPO = Path(__file__).resolve().parents[1]
FEATURE = 5
ALPHAS = [0.0, 40.0]


def _model_args(tiny_sae_dir: Path, **extra) -> dict:
    return {"sae": str(tiny_sae_dir), "layer": 2, **extra}


def _run(tiny_model_dir, tiny_sae_dir, log_dir, grader="stubgrader/length", model_args=None, **task_args) -> EvalLog:
    # the prompting reference has tests of its own (test_curves.py); the CLI run below keeps it on
    task_args = {
        "alphas": ALPHAS,
        "n_prompts": 3,
        "feature": FEATURE,
        "max_tokens": 12,
        "prompting": False,
        **task_args,
    }
    (log,) = inspect_eval(
        french(**task_args),
        model=f"steered/{tiny_model_dir}",
        model_args=model_args or _model_args(tiny_sae_dir),
        model_roles={"grader": grader},
        log_dir=str(log_dir),
        display="none",
    )
    return log


@pytest.fixture(scope="module")
def cli_log(tiny_model_dir, tiny_sae_dir, tmp_path_factory) -> EvalLog:
    log_dir = tmp_path_factory.mktemp("cli-logs")
    command = [
        sys.executable, "-m", "inspect_ai", "eval", "evals/french.py",
        "--model", f"steered/{tiny_model_dir}",
        "-M", f"sae={tiny_sae_dir}", "-M", "layer=2",
        "--model-role", "grader=stubgrader/length",
        "-T", "alphas=0,40", "-T", "n_prompts=3", "-T", f"feature={FEATURE}", "-T", "max_tokens=12",
        "--log-dir", str(log_dir), "--display", "plain",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = log_dir.glob("*.eval")
    return read_eval_log(str(path))


def test_cli_run_succeeds_with_every_sample_graded(cli_log):
    # the CLI exits 0 even when the eval errored: the log's status is the witness
    assert cli_log.status == "success", cli_log.error
    assert len(cli_log.samples) == 3 * len(ALPHAS) * 2 + 3  # and 3 prompting-reference samples
    seen = set()
    for sample in cli_log.samples:
        meta = sample.metadata
        seen.add((meta["alpha"], meta["method"]))
        assert meta["feature"] == (None if meta["method"] == "prompting" else FEATURE)
        assert meta["prompt_id"].startswith("p")
        reply = sample.output.completion
        judged = sample.scores["judges"]
        assert judged.value == {"behavior": length_grade(reply), "fluency": length_grade(reply)}
        assert judged.explanation == "\n\n".join(f"{n}: the reply has {len(reply)} characters" for n in judged.value)
        assert 0.0 <= sample.scores["french_share"].value <= 1.0
        assert "French sentences" in sample.scores["french_share"].explanation
        assert 0.0 <= sample.scores["coherence"].value <= 1.0
        assert "real-word share" in sample.scores["coherence"].explanation
        offline = sample.scores["fluency_offline"]
        # coherence x likelihood under the reference model, both parts named in the explanation
        assert offline.value == pytest.approx(offline.metadata["coherence"] * offline.metadata["likelihood"])
        assert "likelihood" in offline.explanation and offline.metadata["reference"] == "gemma-3-270m"
        assert sample.scores["unsteered_logprob"].value < 0
    assert seen == {(a, m) for a in ALPHAS for m in ("add", "add_renorm")} | {(0.0, "prompting")}


def test_cli_run_logs_per_alpha_and_per_method_metrics(cli_log):
    steered = [f"α={alpha} ({method})" for method in ("add", "add_renorm") for alpha in ("+0", "+40")]
    # the prompting reference is its own cell and never pooled into "all"
    expected = ["mean", "stderr", *steered, "α=+0 (prompting)", "α=+0 (all)", "α=+40 (all)"]
    for score in cli_log.results.scores:
        # curve order; no name ends in a digit (inspect view strips them)
        assert [metric.name for metric in score.metrics.values()] == expected
    behavior = next(s for s in cli_log.results.scores if s.name == "behavior")
    for method in ("add", "all"):
        at_zero = [
            judge_grade(s.scores, "behavior")
            for s in cli_log.samples
            if s.metadata["alpha"] == 0.0
            and s.metadata["method"] != "prompting"
            and method in ("all", s.metadata["method"])
        ]
        (cell,) = [m for m in behavior.metrics.values() if m.name == f"α=+0 ({method})"]
        assert cell.value == pytest.approx(sum(at_zero) / len(at_zero))


def _is_preflight(event) -> bool:
    from evals.preflight import PREFLIGHT_PROMPT

    return event.input[-1].text == PREFLIGHT_PROMPT


def test_steering_spec_is_in_the_logged_model_call_and_never_reaches_the_grader(cli_log):
    for sample in cli_log.samples:
        if sample.metadata["method"] == "prompting":
            continue  # unsteered: tests/test_curves.py checks its calls
        model_events = [e for e in sample.events if e.event == "model"]
        steered = [e for e in model_events if e.model.startswith("steered/")]
        graded = [e for e in model_events if e.model.startswith("stubgrader/") and not _is_preflight(e)]
        joined = [n for n, call in sample.scores["judges"].metadata.items() if call["shared"]]  # one in flight
        assert len(steered) == 1 and len(graded) + len(joined) == 2
        request = steered[0].call.request
        assert request["steering"] == {
            "alpha": sample.metadata["alpha"],
            "method": sample.metadata["method"],
            "feature": FEATURE,
            "vector": "sae",
            "normalize": False,
        }
        assert request["provider"]["layer"] == 2
        assert (request["provider"]["device"], request["provider"]["dtype"]) == ("cpu", "float32")
        assert request["provider"]["sae_release"] == "gemma-scope-2b-pt-res-canonical"
        # batch_size left out: the CPU default, logged with every call beside the rows the batch held
        assert request["provider"]["batch_size"] is None and steered[0].call.response["batch_size"] == 16
        assert 1 <= steered[0].call.response["batch_rows"] <= 16
        assert steered[0].config.extra_body == {"steering": request["steering"]}
        assert all(e.config.extra_body is None for e in graded)


def test_the_grader_is_asked_for_structured_output_at_temperature_zero(
    tiny_model_dir, tiny_sae_dir, tmp_path, monkeypatch
):
    from evals.judge import Grade
    from evals.stub_grader import RECEIVED_CONFIGS

    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))  # cached grades would skip the grader
    RECEIVED_CONFIGS.clear()
    log = _run(tiny_model_dir, tiny_sae_dir, tmp_path, alphas=[0], methods="add")
    assert log.status == "success"
    judged = [c for c in RECEIVED_CONFIGS if c.response_schema is not None]
    assert len(judged) == 2 * 3 and len(RECEIVED_CONFIGS) == 2 * 3 + 1  # and the one preflight request
    for config in judged:
        assert config.temperature == 0.0
        assert config.response_schema.name == "grade" and config.response_schema.strict
        assert config.response_schema.json_schema.model_dump(exclude_none=True)["required"] == ["reasoning", "score"]
        assert set(config.response_schema.json_schema.properties) == set(Grade.model_fields)
        # the sweep turns adaptive concurrency off for the steered model; the judges get their own back
        assert config.adaptive_connections is not None and config.adaptive_connections.max == 512
    assert log.eval.metadata["judge_template"]
    assert log.eval.config.max_samples is None


def test_unparseable_grader_reply_is_unscored_with_the_judges_text(tiny_model_dir, tiny_sae_dir, tmp_path):
    log = _run(tiny_model_dir, tiny_sae_dir, tmp_path, grader="stubgrader/garbage", alphas=[0], methods="add")
    assert log.status == "success"
    for sample in log.samples:
        score = sample.scores["judges"]
        assert math.isnan(score.value["fluency"]) and math.isnan(score.value["behavior"])
        assert score.metadata["fluency"]["grader_reply"] == "I cannot decide on a number for this one."
        assert "fluency: unscored (" in score.explanation and "I cannot decide" in score.explanation
    fluency = next(s for s in log.results.scores if s.name == "fluency")
    assert math.isnan(fluency.metrics["mean"].value)
    assert not math.isnan(next(s for s in log.results.scores if s.name == "french_share").metrics["mean"].value)


def test_grader_exception_is_retried_not_dropped(tiny_model_dir, tiny_sae_dir, tmp_path):
    log = _run(tiny_model_dir, tiny_sae_dir, tmp_path, grader="stubgrader/flaky", alphas=[0], methods="add")
    assert log.status == "success"
    for sample in log.samples:
        assert judge_grade(sample.scores, "behavior") == length_grade(sample.output.completion)
        calls = [
            e for e in sample.events if e.event == "model" and e.model == "stubgrader/flaky" and not _is_preflight(e)
        ]
        # Inspect records the failed attempt as its own event, then the retry that succeeded
        assert "transient failure" in calls[0].error
        assert [e.error for e in calls[1:]] == [None, None]


def test_concurrent_mixed_batches_match_single_sample_runs(tiny_model_dir, tiny_sae_dir, tmp_path):
    greedy = {"alphas": [-40, 0, 40], "methods": "add,add_renorm", "temperature": 0.0, "judge": False}
    batched = _run(
        tiny_model_dir, tiny_sae_dir, tmp_path / "b", model_args=_model_args(tiny_sae_dir, batch_size=8), **greedy
    )
    alone = _run(
        tiny_model_dir, tiny_sae_dir, tmp_path / "a", model_args=_model_args(tiny_sae_dir, batch_size=1), **greedy
    )
    assert batched.status == alone.status == "success"
    texts = {s.id: s.output.completion for s in alone.samples}
    assert len(texts) == 18
    assert {s.id: s.output.completion for s in batched.samples} == texts
    # and the alphas really change the text
    assert len({s.output.completion for s in batched.samples if s.id.endswith("/add/p01")}) > 1


def test_bad_feature_fails_with_the_valid_range(tiny_model_dir, tiny_sae_dir, tmp_path):
    log = _run(tiny_model_dir, tiny_sae_dir, tmp_path, feature=256, alphas=[1], methods="add", n_prompts=1)
    assert log.status == "error"
    assert "feature 256 is out of range" in log.error.message and "(0..255)" in log.error.message


def test_the_two_judge_calls_of_a_sample_run_at_the_same_time(tiny_model_dir, tiny_sae_dir, tmp_path, monkeypatch):
    from inspect_ai.model import get_model

    from evals.stub_grader import InFlight

    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    InFlight.reset()
    grader = get_model("stubgrader/length", latency=0.5, jitter=0.0)
    log = _run(tiny_model_dir, tiny_sae_dir, tmp_path, grader=grader, alphas=[0], methods="add", n_prompts=1)
    assert log.status == "success"
    (sample,) = log.samples
    calls = [e for e in sample.events if e.event == "model" and e.model == "stubgrader/length" and not _is_preflight(e)]
    assert len(calls) == 2 and InFlight.peak == 2
    first, second = sorted(calls, key=lambda e: e.timestamp)
    assert second.timestamp < first.completed, "the fluency grade waited for the behaviour grade"
    assert set(sample.scores["judges"].value.values()) == {length_grade(sample.output.completion)}


def test_a_run_that_does_not_succeed_names_its_log_and_error(tiny_model_dir, tiny_sae_dir, tmp_path):
    """inspect eval exits 0 on an errored log; the runner behind python -m evals.demo/suite does not."""
    from evals.french import french
    from evals.runner import RunFailed, run_and_plot

    task = french(feature=256, alphas="1", methods="add", n_prompts=1, judge=False, prompting=False, max_tokens=4)
    with pytest.raises(RunFailed, match=r"french did not finish: .*\.eval \(error: .*feature 256 is out of range"):
        run_and_plot(
            task, tmp_path, f"steered/{tiny_model_dir}", {"sae": str(tiny_sae_dir), "layer": 2},
            display="none", retry_attempts=0,
        )  # fmt: skip


def test_the_default_french_feature_is_refused_under_another_sae(tiny_model_dir, tiny_sae_dir, tmp_path):
    """12332 means French only in Gemma Scope's gemma-2-2b layer-20 16k SAE: elsewhere the task asks for a feature."""
    from inspect_ai import eval as inspect_eval

    from evals.french import french

    task = french(alphas="1", methods="add", n_prompts=1, judge=False, prompting=False, max_tokens=4)
    (log,) = inspect_eval(
        task, model=f"steered/{tiny_model_dir}", model_args={"sae": str(tiny_sae_dir), "layer": 2},
        log_dir=str(tmp_path / "logs"), display="none",
    )  # fmt: skip
    assert log.status == "error"
    assert "feature 12332 is this task's default for the SAE gemma-scope-2b-pt-res-canonical/" in log.error.message
    assert f"but the model steers with {tiny_sae_dir}: give -T feature=N" in log.error.message
    explicit = french(feature=5, alphas="1", methods="add", n_prompts=1, judge=False, prompting=False, max_tokens=4)
    assert "feature_sae" not in explicit.dataset[0].metadata
