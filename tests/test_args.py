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
    assert len(set(ids)) == 8 and "p00/add/sae/-10" in ids and "p01/add_renorm/sae/+0" in ids
    sample = next(s for s in dataset if s.id == "p01/add_renorm/sae/+0")
    assert sample.metadata == {"prompt_id": "p01", "alpha": 0.0, "method": "add_renorm", "feature": 7, "vector": "sae"}
    assert sample.input == prompts[1]["prompt"]


def test_prompt_set_has_at_least_thirty_distinct_instructions():
    prompts = load_prompts()
    assert len({p["prompt"] for p in prompts}) >= 30
