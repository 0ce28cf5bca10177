"""README's criterion pattern, verbatim, from a folder outside the project; and `inspect score` on its log."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

REPO = Path(__file__).resolve().parents[1]


def readme_snippet() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- criterion-snippet -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md has no criterion snippet"
    return match.group(1)


@pytest.fixture(scope="module")
def snippet_log(tiny_model_dir, tiny_sae_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("my-criteria")
    (elsewhere / "polite.py").write_text(readme_snippet())
    command = [
        sys.executable, "-m", "inspect_ai", "eval", "polite.py",
        "--model", f"steered/{tiny_model_dir}", "-M", f"sae={tiny_sae_dir}", "-M", "layer=2",
        "--model-role", "grader=stubgrader/length",
        "-T", "n_prompts=2", "-T", "feature=5", "-T", "alphas=0,40", "-T", "max_tokens=8",
        "--log-dir", str(elsewhere / "logs"), "--display", "plain",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "not used by task" not in done.stdout + done.stderr
    (log_file,) = (elsewhere / "logs").glob("*.eval")
    return log_file


def test_the_readme_criterion_snippet_runs_verbatim_with_every_sweep_argument(snippet_log):
    log = read_eval_log(str(snippet_log))
    assert log.status == "success", log.error
    assert log.eval.task == "polite" and len(log.samples) == 2 * 2 * 2  # n_prompts x alphas x methods
    assert {s.metadata["feature"] for s in log.samples} == {5}
    behavior = next(s for s in log.results.scores if s.name == "behavior")
    cells = {m.name for m in behavior.metrics.values()}
    assert {"α=+0 (add)", "α=+40 (add)", "α=+0 (add_renorm)", "α=+40 (all)"} <= cells
    assert log.eval.metadata["criterion"] == "The text is polite and courteous."


def test_an_unknown_sweep_argument_is_an_error_not_a_warning():
    from evals.sweep import criterion_sweep

    with pytest.raises(ValueError, match=r"unknown task args \['n_prompt'\] for 'polite': valid are .*'n_prompts'"):
        criterion_sweep("polite", "The text is polite.", feature=5, args={"n_prompt": 3})


def test_inspect_score_adds_a_criterion_without_regenerating(snippet_log, tmp_path):
    from evals.curves import write_outputs

    before = read_eval_log(str(snippet_log))
    command = [
        sys.executable, "-m", "inspect_ai", "score", str(snippet_log),
        "--scorer", "evals/scorers.py@behavior", "-S", "criterion=The text mentions the weather.",
        "--model-role", "grader=stubgrader/length", "--action", "append", "--overwrite", "--display", "plain",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = read_eval_log(str(snippet_log))
    for old, new in zip(before.samples, after.samples):
        assert new.output.completion == old.output.completion
        assert new.scores["judges"].value == old.scores["judges"].value
        assert new.scores["behavior"].metadata["criterion"] == "The text mentions the weather."
        steered = [e for e in new.events if e.event == "model" and e.model.startswith("steered/")]
        assert len(steered) == 1  # the original generation only
    result = write_outputs([snippet_log.parent], tmp_path / "curves")
    scorers = set(result["summary"]["scorer"])
    assert {"behavior", "behavior1", "fluency", "combined"} <= scorers
    # the judges' own grade keeps its name; the appended criterion is read as behavior1
    appended = result["table"].set_index("sample_id")["behavior1"]
    assert {s.id: s.scores["behavior"].value for s in after.samples} == appended.to_dict()
    assert set(result["summary"][result["summary"].scorer == "behavior1"]["n"]) == {2}
