"""The curves pipeline on real logs of the tiny model, graded by a stub whose grade is a known function."""

from __future__ import annotations

import shutil

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import ModelEvent
from inspect_ai.solver import generate

from evals.curves import PROMPTING, CurvesError, load_table, main, write_outputs
from evals.french import french
from evals.stub_grader import length_grade
from steering.provider.model_api import model_label

ALPHAS = [-40.0, 0.0, 40.0]
METHODS = ["add", "add_renorm"]


def _sweep(model_dir, sae_dir, log_dir, grader="stubgrader/length", epochs=1, **task_args):
    args = {"alphas": ALPHAS, "methods": METHODS, "n_prompts": 4, "feature": 5, "max_tokens": 16, "temperature": 0}
    args["prompting"] = False  # the module's sweep turns it on
    (log,) = inspect_eval(
        french(**{**args, **task_args}),
        model=f"steered/{model_dir}",
        model_args={"sae": str(sae_dir), "layer": 2},
        model_roles={"grader": grader},
        log_dir=str(log_dir),
        display="none",
        epochs=epochs,
    )
    assert log.status == "success"
    return log


@pytest.fixture(scope="module")
def sweep(tiny_model_dir, tiny_sae_dir, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("sweep-logs")
    log = _sweep(tiny_model_dir, tiny_sae_dir, log_dir, prompting=True)
    out = tmp_path_factory.mktemp("curves")
    return log, log_dir, out, write_outputs([log_dir], out)


def _hand_grades(log):
    """{(method, alpha, prompt_id): length grade of the reply}, computed from the log by hand."""
    return {
        (s.metadata["method"], s.metadata["alpha"], s.metadata["prompt_id"]): length_grade(s.output.completion)
        for s in log.samples
    }


def test_summary_means_and_counts_equal_a_hand_computation(sweep):
    log, _, _, result = sweep
    grades = _hand_grades(log)
    summary = result["summary"]
    assert len(result["table"]) == len(ALPHAS) * len(METHODS) * 4 + 4  # and the 4 prompting-reference samples
    for method in METHODS:
        for alpha in ALPHAS:
            values = [g for (m, a, _), g in grades.items() if (m, a) == (method, alpha)]
            for scorer in ("behavior", "fluency"):
                row = summary[(summary.method == method) & (summary.alpha == alpha) & (summary.scorer == scorer)]
                assert row["n"].item() == 4 and row["n_unscored"].item() == 0
                assert row["mean"].item() == pytest.approx(np.mean(values))
                # one row per prompt: the bootstrap over prompts has the plug-in standard error, and a
                # percentile interval of a mean stays between the smallest and the largest value
                assert row["sem"].item() == pytest.approx(np.std(values) / 2, rel=0.15)
                assert min(values) <= row["ci95_low"].item() <= row["mean"].item() <= row["ci95_high"].item()
                assert row["ci95_high"].item() <= max(values) and row["n_prompts"].item() == 4
            combined = summary[(summary.method == method) & (summary.alpha == alpha) & (summary.scorer == "combined")]
            assert combined["mean"].item() == pytest.approx(((np.mean(values) - 1) / 9) ** 2)


def test_best_alpha_is_picked_on_half_the_prompts_and_reported_on_the_other(sweep):
    log, _, _, result = sweep
    grades = _hand_grades(log)

    def objective(method, prompts):
        means = {a: np.mean([grades[(method, a, p)] for p in prompts]) for a in ALPHAS}
        return {a: ((m - 1) / 9) ** 2 for a, m in means.items()}

    for method in METHODS:
        select, report, every = objective(method, ["p00", "p02"]), objective(method, ["p01", "p03"]), None
        every = objective(method, ["p00", "p01", "p02", "p03"])
        picked = max(ALPHAS, key=lambda a: (select[a], -ALPHAS.index(a)))
        row = result["best"][result["best"].method == method].iloc[0]
        assert row["alpha_heldout"] == picked
        assert row["score_heldout"] == pytest.approx(report[picked])
        assert row["score_insample"] == pytest.approx(max(every.values()))
        assert (row["n_select_prompts"], row["n_report_prompts"]) == (2, 2)


def test_plots_are_real_images_whose_points_match_the_summary(sweep):
    _, _, out, result = sweep
    plots = {p.scorer: p for p in result["plots"]}
    expected = {"behavior", "fluency", "combined", "french_share", "coherence", "combined_offline", "unsteered_logprob"}
    assert expected <= set(plots)
    summary = result["summary"]
    overview = plots.pop("overview")
    plots.pop("leaderboard")  # its own test below
    assert matplotlib.image.imread(overview.path)[..., :3].std() > 0.05
    for plot in result["plots"]:
        assert not plot.clipped, f"{plot.path.name} cuts off {plot.clipped}"
    for scorer, plot in plots.items():
        image = matplotlib.image.imread(plot.path)
        assert image.shape[:2] == (500, 800)
        assert image[..., :3].std() > 0.05, f"{plot.path.name} looks blank"
        assert set(plot.points) == {*METHODS, PROMPTING}  # the prompting reference is drawn as a line
        for method, points in plot.points.items():
            rows = summary[(summary.scorer == scorer) & (summary.method == method)].sort_values("alpha")
            if method == PROMPTING:
                continue
            assert [x for x, _ in points] == rows["alpha"].tolist()
            assert np.allclose([y for _, y in points], rows["mean"].to_numpy(dtype=float), equal_nan=True)
    for name in ("samples.csv", "summary.csv", "summary.md", "best_alpha.csv"):
        assert (out / name).stat().st_size > 0


def test_copied_or_resumed_logs_are_not_double_counted(sweep, tmp_path):
    _, log_dir, _, result = sweep
    (log_file,) = log_dir.glob("*.eval")
    shutil.copy(log_file, tmp_path / "copy.eval")
    table = load_table([log_dir, tmp_path])
    assert len(table) == len(result["table"])


def test_unscored_grades_are_counted_not_averaged(tiny_model_dir, tiny_sae_dir, tmp_path):
    _sweep(tiny_model_dir, tiny_sae_dir, tmp_path / "logs", grader="stubgrader/garbage", alphas=[0], methods="add")
    result = write_outputs([tmp_path / "logs"], tmp_path / "out")
    fluency = result["summary"][result["summary"].scorer == "fluency"].iloc[0]
    assert (fluency["n"], fluency["n_unscored"]) == (0, 4)
    assert pd.isna(fluency["mean"])
    assert "| french | " in result["report"].split("## Unscored and failed rows")[1].split("## Mean")[0]


def test_different_models_are_kept_apart(sweep, tiny_model_dir, tiny_sae_dir, tmp_path):
    _, log_dir, _, _ = sweep
    other = shutil.copytree(tiny_model_dir, tmp_path / "other-model")
    _sweep(other, tiny_sae_dir, tmp_path / "logs", alphas=[0], methods="add")
    result = write_outputs([log_dir, tmp_path / "logs"], tmp_path / "out")
    assert result["summary"]["model"].nunique() == 2
    other_rows = result["summary"][result["summary"]["model"] == f"steered/{model_label(str(other))}"]
    assert set(other_rows["alpha"]) == {0.0} and set(other_rows["n"].dropna()) == {4}
    # per model 10 scorers (judges, their product, the offline checks and their two combined scores) + overview,
    # and one leaderboard
    assert len({p.path for p in result["plots"]}) == len(result["plots"]) == 2 * (10 + 1) + 1


def test_missing_logs_or_metadata_give_clear_errors(tmp_path, capsys):
    with pytest.raises(CurvesError, match="no .eval or .json logs found"):
        load_table([tmp_path])
    with pytest.raises(CurvesError, match="does not exist"):
        load_table([tmp_path / "nope"])
    plain = Task(dataset=[Sample(input="hi")], solver=generate())
    inspect_eval(plain, model="stubgrader/length", log_dir=str(tmp_path / "plain"), display="none")
    with pytest.raises(CurvesError, match=r"missing \[\"metadata 'alpha'\", \"metadata 'method'\"\]"):
        load_table([tmp_path / "plain"])
    assert main([str(tmp_path / "plain"), "--out", str(tmp_path / "o")]) == 2
    assert "metadata 'alpha'" in capsys.readouterr().err


def test_runs_at_different_temperatures_are_kept_apart(tiny_model_dir, tiny_sae_dir, tmp_path):
    for temperature in (0.5, 1.5):
        _sweep(tiny_model_dir, tiny_sae_dir, tmp_path / "logs", alphas=[0], methods="add", temperature=temperature)
    result = write_outputs([tmp_path / "logs"], tmp_path / "out")
    table = result["table"]
    assert len(table) == 8 and table["log"].nunique() == 2
    assert sorted(table["settings"].unique()) == ["temperature=0.5", "temperature=1.5"]
    behaviour = result["summary"][result["summary"].scorer == "behavior"]
    assert sorted(behaviour["settings"]) == ["temperature=0.5", "temperature=1.5"]
    assert set(behaviour["n"]) == {4}
    assert len(result["best"]) == 2
    assert any("temperature-1-5" in p.path.name for p in result["plots"])


def test_runs_with_different_graders_are_kept_apart(sweep, tiny_model_dir, tiny_sae_dir, tmp_path):
    _, log_dir, _, _ = sweep
    _sweep(tiny_model_dir, tiny_sae_dir, tmp_path / "logs", grader="stubgrader/garbage")
    result = write_outputs([log_dir, tmp_path / "logs"], tmp_path / "out")
    assert set(result["table"]["settings"]) == {"grader=stubgrader/length", "grader=stubgrader/garbage"}
    garbage = result["summary"][
        (result["summary"].settings == "grader=stubgrader/garbage") & (result["summary"].scorer == "fluency")
    ]
    assert set(garbage["n"]) == {0} and set(garbage["n_unscored"]) == {4}


def _damage(log_path, out_path):
    """A copy of the log in which one sample errored and one hit a time limit."""
    from inspect_ai.log import EvalError, EvalSampleLimit, read_eval_log, write_eval_log

    log = read_eval_log(str(log_path))
    log.samples[0].error = EvalError(message="RuntimeError: boom", traceback="", traceback_ansi="")
    log.samples[1].limit = EvalSampleLimit(type="time", limit=9)
    write_eval_log(log, str(out_path))
    return log.samples[0].id, log.samples[1].id


def test_failed_samples_are_named_counted_and_the_worst_score_in_the_combined_score(sweep, tmp_path):
    log, log_dir, _, result = sweep
    (log_file,) = log_dir.glob("*.eval")
    (tmp_path / "logs").mkdir()
    errored, limited = _damage(log_file, tmp_path / "logs" / "damaged.eval")
    damaged = write_outputs([tmp_path / "logs"], tmp_path / "out")
    table = damaged["table"]
    assert len(table) == len(result["table"])  # kept, so their cells can count them
    bad = table[table["sample_id"].isin([errored, limited])]
    assert bad["behavior"].isna().all() and bad["fluency"].isna().all() and (bad["failure"] != "").all()
    failed = damaged["dropped"]["failed_samples"]
    assert any(errored in f and "boom" in f for f in failed)
    assert any(limited in f and "limit: time" in f for f in failed)
    assert "2 of them failed" in damaged["report"] and errored in damaged["report"]

    grades = _hand_grades(log)
    meta = {s.id: s.metadata for s in log.samples}
    method, alpha = meta[errored]["method"], meta[errored]["alpha"]
    lost = {
        meta[i]["prompt_id"] for i in (errored, limited) if (meta[i]["method"], meta[i]["alpha"]) == (method, alpha)
    }
    others = [g for (m, a, p), g in grades.items() if (m, a) == (method, alpha) and p not in lost]
    summary = damaged["summary"]
    cell = summary[(summary.method == method) & (summary.alpha == alpha) & (summary.vector != PROMPTING)]
    behaviour = cell[cell.scorer == "behavior"].iloc[0]
    assert (behaviour["n"], behaviour["n_failed"], behaviour["n_unscored"]) == (4 - len(lost), len(lost), 0)
    assert behaviour["mean"] == pytest.approx(np.mean(others))  # a scorer's own mean: scored rows, failures beside
    combined = cell[cell.scorer == "combined"].iloc[0]
    normalised = [(g - 1) / 9 for g in others]
    assert combined["mean_scored"] == pytest.approx(np.mean(normalised) ** 2)
    assert combined["mean"] == pytest.approx((sum(normalised) / 4) ** 2)  # a failed row counts as 0
    assert (combined["n"], combined["n_failed"]) == (4, len(lost))


def test_a_cell_with_unscored_rows_ranks_below_the_same_cell_scored():
    from evals.analysis.stats import best_alphas, summarize

    rows = []
    for alpha in (1.0, 2.0):
        for prompt in ("p0", "p1", "p2", "p3"):
            rows.append({"method": "add", "alpha": alpha, "prompt_id": prompt, "french_share": 0.9,
                         "fluency_offline": 0.8, "vector": "diff_of_means"})  # fmt: skip
    table = pd.DataFrame(rows)
    for key, value in {"task": "t", "concept": "-", "model": "m", "sae": "-", "layer": 6, "positions": "all",
                       "feature": np.nan, "settings": "-", "epoch": 1}.items():  # fmt: skip
        table[key] = value
    table["sample_id"] = table["alpha"].astype(str) + table["prompt_id"]
    # alpha 1 is the better cell on its scored rows, but its judge (here the fluency check) failed on half of them
    table.loc[table.alpha == 1.0, "french_share"] = 1.0
    table.loc[(table.alpha == 1.0) & table.prompt_id.isin(["p0", "p1"]), "fluency_offline"] = np.nan
    summary = summarize(table)
    one = summary[(summary.alpha == 1.0) & (summary.scorer == "combined_offline")].iloc[0]
    assert one["n_unscored"] == 2 and one["mean_scored"] == pytest.approx(0.8)
    assert one["mean"] == pytest.approx(1.0 * 0.4)
    best = best_alphas(table).iloc[0]
    assert best["alpha_insample"] == 2.0 and best["alpha_heldout"] == 2.0


def test_a_corrupt_log_is_skipped_by_name_and_the_rest_are_used(sweep, tmp_path, capsys):
    _, log_dir, _, result = sweep
    (log_file,) = log_dir.glob("*.eval")
    (tmp_path / "logs").mkdir()
    shutil.copy(log_file, tmp_path / "logs" / "good.eval")
    (tmp_path / "logs" / "truncated.eval").write_bytes(log_file.read_bytes()[:2000])
    assert main([str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "skipped unreadable log" in err and "truncated.eval" in err
    assert len(pd.read_csv(tmp_path / "out" / "samples.csv")) == len(result["table"])


def test_a_folder_with_only_failed_samples_exits_non_zero(sweep, tmp_path, capsys):
    from inspect_ai.log import EvalError, read_eval_log, write_eval_log

    _, log_dir, _, _ = sweep
    (log_file,) = log_dir.glob("*.eval")
    log = read_eval_log(str(log_file))
    for sample in log.samples:
        sample.error = EvalError(message="RuntimeError: boom", traceback="", traceback_ansi="")
    (tmp_path / "logs").mkdir()
    write_eval_log(log, str(tmp_path / "logs" / "all-failed.eval"))
    assert main([str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 2
    assert "no usable samples" in capsys.readouterr().err


def test_judge_audit_on_a_known_table_equals_a_hand_computation():
    from evals.analysis.audit import judge_audit
    from evals.analysis.schema import GROUP

    behaviour = [1, 2, 3, 4, 10]
    french = [0.0, 0.1, 0.2, 0.3, 0.05]
    table = pd.DataFrame({key: "x" for key in GROUP}, index=range(5))
    table = table.assign(sample_id=[f"s{i}" for i in range(5)], behavior=behaviour, french_share=french)
    (row,) = judge_audit(table, n_disagreeing=1).to_dict("records")
    # ranks 1..5 vs 1,3,4,5,2: d = 0,1,1,1,3; rho = 1 - 6*12/(5*24) = 0.4
    assert row["spearman"] == pytest.approx(0.4)
    assert row["n"] == 5 and row["most_disagreeing"].startswith("s4 (10 vs 0.05)")
    report_table = pd.DataFrame([row])
    from evals.analysis.audit import audit_section as _audit_section

    assert "**Warning:** behavior and french_share agree poorly (Spearman 0.40, n=5)" in _audit_section(report_table)


def test_judge_audit_equals_a_hand_computed_spearman(sweep):
    from scipy.stats import spearmanr

    _, _, _, result = sweep
    table, audit = result["table"], result["audit"]
    table = table[table.vector != PROMPTING]  # the prompting reference is audited as its own group
    for judge, check in [("behavior", "french_share"), ("fluency", "coherence")]:
        row = audit[(audit.judge == judge) & (audit.check == check) & (audit.vector != PROMPTING)].iloc[0]
        expected = spearmanr(table[judge], table[check]).statistic
        assert row["n"] == len(table)
        assert row["spearman"] == pytest.approx(expected, nan_ok=True)
    assert "## Judge audit" in result["report"]


def test_best_alpha_uses_the_offline_combined_score_without_judges(tiny_model_dir, tiny_sae_dir, tmp_path):
    _sweep(tiny_model_dir, tiny_sae_dir, tmp_path / "logs", judge=False)
    result = write_outputs([tmp_path / "logs"], tmp_path / "out")
    table = result["table"]
    for method in METHODS:
        rows = table[table.method == method]
        objective = rows.groupby("alpha").apply(lambda g: g["french_share"].mean() * g["coherence"].mean())
        best = result["best"][result["best"].method == method].iloc[0]
        assert best["objective"] == "combined_offline"
        assert best["score_insample"] == pytest.approx(objective.max())
    assert "combined_offline" in set(result["summary"]["scorer"]) and "combined" not in set(result["summary"]["scorer"])


def test_best_alpha_is_compared_with_prompting_on_the_same_held_out_prompts(sweep):
    log, _, out, result = sweep
    grades = _hand_grades(log)
    best = result["best"]
    assert PROMPTING not in set(best["method"]) and PROMPTING not in set(best["vector"])
    for method in METHODS:
        row = best[best.method == method].iloc[0]
        steered = np.mean([grades[(method, row.alpha_heldout, p)] for p in ["p01", "p03"]])
        asked = np.mean([grades[(PROMPTING, 0.0, p)] for p in ["p01", "p03"]])
        assert row.prompting_heldout == pytest.approx(((asked - 1) / 9) ** 2)
        assert row.vs_prompting == pytest.approx(((steered - 1) / 9) ** 2 - ((asked - 1) / 9) ** 2)
        assert row.vs_prompting_low <= row.vs_prompting + 1e-12 <= row.vs_prompting_high + 2e-12
    # every steering plot draws the prompting reference as a line at its mean
    summary = result["summary"]
    reference = summary[(summary.vector == PROMPTING) & (summary.scorer == "behavior")].iloc[0]
    plot = next(p for p in result["plots"] if p.scorer == "behavior")
    assert plot.points[PROMPTING][0][1] == pytest.approx(reference["mean"])
    assert not plot.clipped
    # the leaderboard: the SAE feature and prompting, each scored on the held-out half
    board = result["leaderboard"]
    assert list(board.source) == sorted(board.source, key=lambda s: -board.set_index("source").score[s])
    assert set(board.source) == {"SAE feature 5", PROMPTING}
    asked_row = board[board.source == PROMPTING].iloc[0]
    assert asked_row.score == pytest.approx(((asked - 1) / 9) ** 2) and asked_row.n == 2
    assert (out / "leaderboard.md").read_text().count("\n| ") == 4  # header, rule and two rows
    png = next(p for p in result["plots"] if p.scorer == "leaderboard")
    assert matplotlib.image.imread(png.path).shape[2] in (3, 4) and not png.clipped


def test_prompting_samples_ask_in_words_are_unsteered_and_judged_on_the_bare_prompt(sweep):
    from inspect_ai.log import resolve_sample_attachments

    log = sweep[0]
    asked = [s for s in log.samples if s.metadata["method"] == PROMPTING]
    assert len(asked) == 4 and all(s.id.startswith("P:prompting/") for s in asked)
    for sample in asked:
        calls = [e for e in resolve_sample_attachments(sample).events if e.event == "model"]
        steered = [e for e in calls if e.model.startswith("steered/")]
        graded = [e for e in calls if e.model.startswith("stubgrader/")]
        assert steered[0].config.extra_body is None, "the prompting reference is never steered"
        assert steered[0].input[-1].text == f"{sample.input}\n\nAnswer in French."
        for judge in graded:
            assert sample.input in judge.input[-1].text and "Answer in French." not in judge.input[-1].text


def test_prompting_can_be_turned_off(tiny_model_dir, tiny_sae_dir):
    task = french(alphas=[0.0], n_prompts=2, feature=5, prompting=False)
    assert all(s.metadata["method"] != PROMPTING for s in task.dataset)
    assert french(alphas=[0.0], n_prompts=2, feature=5).metadata["instruction"] == "Answer in French."


def test_a_judged_and_a_judge_free_run_analysed_together_each_get_their_own_pick(
    sweep, tiny_model_dir, tiny_sae_dir, tmp_path
):
    _, log_dir, _, _ = sweep
    _sweep(tiny_model_dir, tiny_sae_dir, tmp_path / "free", judge=False)
    result = write_outputs([log_dir, tmp_path / "free"], tmp_path / "out")
    best = result["best"]
    assert set(best["objective"]) == {"combined", "combined_offline"}
    assert best["alpha_heldout"].notna().all() and best["alpha_insample"].notna().all()
    summary = result["summary"]
    judged = set(summary[summary["scorer"].isin(["behavior", "fluency"])]["settings"])
    assert len(judged) == 1  # no empty judge rows (or plots) for the judge-free run
    judge_plots = [p for p in result["plots"] if p.scorer in ("behavior", "fluency")]
    assert len(judge_plots) == 2  # the judged run's only
    assert len(result["leaderboard"]) == 3 and not result["unranked"]  # two SAE rows and the prompting one


def test_epochs_are_new_draws_paired_within_an_epoch_and_nested_in_their_prompt(tiny_model_dir, tiny_sae_dir, tmp_path):
    from evals.analysis.stats import summarize

    log = _sweep(tiny_model_dir, tiny_sae_dir, tmp_path / "logs", judge=False, alphas=[0.0, 40.0], methods="add",
                 n_prompts=6, temperature=1.0, seed=11, epochs=2)  # fmt: skip
    replies: dict[str, dict[int, str]] = {}
    for sample in log.samples:
        replies.setdefault(sample.id, {})[sample.epoch] = sample.output.completion
    differ = sum(texts[1] != texts[2] for texts in replies.values())
    assert differ >= 0.8 * len(replies), f"only {differ} of {len(replies)} rows drew a new reply in epoch 2"
    # row seeds pair alphas within a prompt and epoch, and differ between epochs
    seeds: dict[tuple[str, int], set[int]] = {}
    for sample in log.samples:
        (call,) = [e.call for e in sample.events if isinstance(e, ModelEvent) and e.call is not None]
        key = (sample.metadata["prompt_id"], sample.epoch)
        seeds.setdefault(key, set()).add(call.request["generation"]["row_seed"])
    assert all(len(s) == 1 for s in seeds.values()) and len({s.pop() for s in seeds.values()}) == len(seeds)
    # the prompt is the unit: 6 prompts, each with both epochs' rows (12 per cell)
    table = load_table([tmp_path / "logs"])
    summary = summarize(table)
    shares = summary[summary["scorer"] == "french_share"]
    assert set(shares["n_prompts"]) == {6} and set(shares["n"]) == {12}
    # copying epoch 1 as epoch 2 (what a seeded run drew before) would not narrow them at all
    copied = pd.concat([table[table["epoch"] == 1], table[table["epoch"] == 1].assign(epoch=2)])
    first, twice = summarize(table[table["epoch"] == 1]), summarize(copied)
    assert np.allclose(first["ci95_low"], twice["ci95_low"], equal_nan=True)
    assert np.allclose(first["ci95_high"], twice["ci95_high"], equal_nan=True)


def test_a_log_with_the_two_judges_as_two_scorers_gives_the_same_tables(sweep, tmp_path):
    """Logs written before the judges were one scorer keep their analysis."""
    from inspect_ai.log import write_eval_log
    from inspect_ai.scorer import Score

    log, log_dir, _, result = sweep
    old = log.model_copy(deep=True)
    for sample in old.samples:
        judged = sample.scores.pop("judges")
        for name, value in judged.value.items():
            sample.scores[name] = Score(value=value, explanation="", metadata=judged.metadata[name])
    old.eval.scorers = [s for s in old.eval.scorers if s.name != "judges"] + [
        s.model_copy(update={"name": name}) for s in old.eval.scorers if s.name == "judges" for name in judged.value
    ]
    write_eval_log(old, str(tmp_path / "old" / "old.eval"))
    again = write_outputs([tmp_path / "old"], tmp_path / "curves")
    judged = result["summary"][result["summary"].scorer.isin(["behavior", "fluency", "combined"])]
    again_judged = again["summary"][again["summary"].scorer.isin(["behavior", "fluency", "combined"])]
    assert len(judged) == 3 * 7  # three scorers, six steering cells and the prompting reference
    pd.testing.assert_frame_equal(judged.reset_index(drop=True), again_judged.reset_index(drop=True))
    pd.testing.assert_frame_equal(result["best"], again["best"])
