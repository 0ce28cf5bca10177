"""A direction source or a method is one registration: everything else asks the registry."""

from __future__ import annotations

import pytest
import torch

from steering.methods import METHODS, register_method
from steering.sources import Source, get_source, register_source, unregister_source
from steering.spec import SteeringSpec


class Ones(Source):
    name = "ones"
    summary = "a vector of ones (a test source)"

    def build(self, spec, context):
        return torch.ones(context.model.config.hidden_size)

    def label(self, vector, feature):
        return "all ones"


@pytest.fixture
def ones():
    source = register_source(Ones())
    yield source
    unregister_source("ones")


def test_a_registered_source_is_accepted_built_logged_and_labelled(ones, tiny, tiny_sae_dir):
    from evals.analysis.labels import group_label, source_label
    from evals.french import french
    from steering.directions import SaeRef
    from steering.sources.resolver import DirectionResolver

    task = french(vector="ones,sae", feature=5, alphas="0,3", methods="add", n_prompts=1, judge=False)
    rows = {(s.metadata["vector"], s.metadata["feature"]) for s in task.dataset}
    assert ("ones", None) in rows and ("sae", 5) in rows  # a source without a feature carries none

    spec = SteeringSpec(alpha=3.0, vector="ones")
    assert SteeringSpec.from_dict(spec.to_dict()) == spec  # what the log's model call carries
    model, tokenizer = tiny
    (vector,) = DirectionResolver(model, tokenizer, 2, SaeRef(str(tiny_sae_dir), release=None)).resolve([spec])
    assert torch.equal(vector, torch.ones(model.config.hidden_size))

    keys = ("french", "-", "steered/tiny", "-", 2, "all", None, "ones", "-")
    assert source_label({"vector": "ones", "feature": None}) == "all ones"
    assert "all ones" in group_label(keys)


def test_a_second_source_or_method_under_one_name_is_refused(ones):
    with pytest.raises(ValueError, match="a direction source named 'ones' is already registered"):
        register_source(Ones())
    with pytest.raises(ValueError, match="a steering method named 'add' is already registered"):
        register_method("add")(lambda h, v, alpha: h)
    assert METHODS["add"].__name__ != "<lambda>"


def test_an_unknown_vector_names_every_registered_source():
    with pytest.raises(ValueError, match=r"unknown vector 'klingon': use one of ") as error:
        get_source("klingon")
    for name in ("sae (", "sae_ts (", "diff_of_means (", "file (a .safetensors/.npy path"):
        assert name in str(error.value)
