"""Model-level steering (-M alpha=... -M feature=...): any Inspect task, not only ours, runs steered unchanged."""

from __future__ import annotations

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate

QUESTIONS = ["What is two plus two?", "Name a colour.", "Say hello."]


def _someone_elses_task() -> Task:
    """A task that knows nothing of steering: plain generate(), greedy."""
    return Task(
        dataset=[Sample(input=q, id=f"q{i}") for i, q in enumerate(QUESTIONS)],
        solver=generate(),
        config=GenerateConfig(temperature=0.0, max_tokens=10),
    )


def _run(task: Task, model_dir, sae_dir, tmp_path, name: str, **steering):
    (log,) = inspect_eval(
        task,
        model=f"steered/{model_dir}",
        model_args={"sae": str(sae_dir), "layer": 2, **steering},
        log_dir=str(tmp_path / name),
        display="none",
    )
    assert log.status == "success", log.error
    return log


def _replies(log) -> dict[str, str]:
    return {str(s.id): s.output.completion for s in log.samples}


def test_any_task_runs_steered_by_model_arguments(tiny_model_dir, tiny_sae_dir, tmp_path):
    plain = _run(_someone_elses_task(), tiny_model_dir, tiny_sae_dir, tmp_path, "plain")
    zero = _run(_someone_elses_task(), tiny_model_dir, tiny_sae_dir, tmp_path, "zero", alpha=0, feature=5)
    hard = _run(
        _someone_elses_task(), tiny_model_dir, tiny_sae_dir, tmp_path, "hard", alpha=60, feature=5, method="add_renorm"
    )
    assert _replies(zero) == _replies(plain)  # alpha 0 is the unsteered model, token for token
    assert all(_replies(hard)[k] != v for k, v in _replies(plain).items())
    for sample in hard.samples:
        (call,) = [e for e in sample.events if e.event == "model"]
        assert call.call.request["steering"] == {
            "alpha": 60.0, "method": "add_renorm", "feature": 5, "vector": "sae", "normalize": False,
        }  # fmt: skip
    assert hard.eval.model_args["alpha"] == 60 and hard.eval.model_args["feature"] == 5
    for sample in plain.samples:
        (call,) = [e for e in sample.events if e.event == "model"]
        assert call.call.request["steering"] is None


def test_a_per_sample_spec_from_our_solver_wins(tiny_model_dir, tiny_sae_dir, tmp_path):
    from evals.french import french

    def sweep():
        return french(feature=5, alphas="0", methods="add", n_prompts=2, judge=False, prompting=False, max_tokens=8)

    unsteered = _run(sweep(), tiny_model_dir, tiny_sae_dir, tmp_path, "unsteered")
    overridden = _run(sweep(), tiny_model_dir, tiny_sae_dir, tmp_path, "overridden", alpha=500, feature=5)
    assert _replies(overridden) == _replies(unsteered)
    for sample in overridden.samples:
        (call,) = [e for e in sample.events if e.event == "model"]
        assert call.call.request["steering"]["alpha"] == 0.0


@pytest.mark.parametrize(
    "args, message",
    [
        ({"feature": 5}, r"model-level steering \['feature'\] needs an alpha"),
        ({"alpha": "lots", "feature": 5}, r"alpha must be a number, got 'lots'"),
        ({"alpha": 10, "feature": 5, "method": "shout"}, r"unknown steering method 'shout'"),
        ({"alpha": 10}, r"vector='sae' needs a feature id"),
        ({"alpha": 10, "vector": "klingon"}, r"unknown vector 'klingon'"),
        ({"alpha": 10, "vector": "missing.npy"}, r"vector file 'missing.npy' does not exist"),
        ({"alpha": 10, "feature": "5:x"}, r"weighted target '5:x' is not feature:weight"),
    ],
)
def test_bad_model_level_steering_fails_before_any_weights_load(tiny_model_dir, monkeypatch, args, message):
    import steering.models
    from steering.provider.model_api import SteeredModelAPI

    monkeypatch.setattr(steering.models, "load_model", lambda *a, **k: pytest.fail("weights loaded"))
    with pytest.raises(ValueError, match=message):
        SteeredModelAPI(str(tiny_model_dir), layer=2, **args)


def test_cached_replies_of_one_setting_never_answer_another(tiny_model_dir, tiny_sae_dir, tmp_path, monkeypatch):
    """Inspect's cache key has no model args: the provider's base URL names the ones that change a reply."""
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    cached = Task(
        dataset=[Sample(input=q, id=f"q{i}") for i, q in enumerate(QUESTIONS)],
        solver=generate(cache=True),
        config=GenerateConfig(temperature=0.0, max_tokens=10),
    )
    plain = _run(cached, tiny_model_dir, tiny_sae_dir, tmp_path, "plain", alpha=0, feature=5)
    hard = _run(cached, tiny_model_dir, tiny_sae_dir, tmp_path, "hard", alpha=60, feature=5)
    again = _run(cached, tiny_model_dir, tiny_sae_dir, tmp_path, "again", alpha=60, feature=5, batch_size=2)
    assert all(_replies(hard)[k] != v for k, v in _replies(plain).items())
    events = [e for s in again.samples for e in s.events if e.event == "model"]
    assert _replies(again) == _replies(hard) and all(e.cache == "read" for e in events)  # batching is not output
