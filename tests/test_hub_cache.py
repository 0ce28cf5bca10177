"""Both Gemma Scope generations load by release name from a filled hub cache with no network, and steer exactly.

The caches have the real repository layout and the real tensor shapes (random weights); the models are small
Gemmas of the matching hidden size, so the real ``SAE.from_pretrained`` call, its loader and the layer check
all run as on a compute node whose cache was filled beforehand.
"""

from __future__ import annotations

import pytest
import torch

from steering.directions import SaeRef
from steering.hooks import RowSteering, recording, steering_hook
from steering.sources.resolver import DirectionResolver
from steering.spec import SteeringSpec
from steering.testing import (
    build_gemma_scope_2_cache,
    build_gemma_scope_cache,
    build_tiny_gemma,
    random_jumprelu_params,
)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    assert constants.HF_HUB_OFFLINE, "these tests prove an offline load: HF_HUB_OFFLINE must be set"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def _steered_change(model_dir, layer: int, direction: torch.Tensor, alpha: float) -> torch.Tensor:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    batch = tokenizer(["Bonjour le monde", "Hello"], return_tensors="pt", padding=True)
    outputs = []
    for rows in ([None, None], [RowSteering(direction, alpha), RowSteering(direction, alpha)]):
        with torch.no_grad(), steering_hook(model, layer, rows), recording(model, layer) as seen:
            model(**batch)
        outputs.append(seen[0])
    change = outputs[1] - outputs[0]
    padding = ~batch.attention_mask.bool()
    assert padding.any() and torch.equal(change[padding], torch.zeros_like(change[padding])), "padding moved"
    return change[~padding]


def _resolve(model_dir, layer: int, sae: SaeRef, feature: int) -> torch.Tensor:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    source = DirectionResolver(model, AutoTokenizer.from_pretrained(model_dir), layer, sae)
    return source.resolve([SteeringSpec(alpha=1.0, feature=feature)])[0]


def test_gemma_scope_2b_loads_offline_by_release_name_and_steers_layer_20(hub_cache, tmp_path):
    params = random_jumprelu_params(2304, 16384, seed=1)
    build_gemma_scope_cache(hub_cache, params, "layer_20/width_16k/average_l0_71", "google/gemma-scope-2b-pt-res")
    model_dir = build_tiny_gemma(tmp_path / "gemma-2-hidden-2304", hidden_size=2304, layers=21)
    sae = SaeRef("layer_20/width_16k/canonical", "gemma-scope-2b-pt-res-canonical")

    direction = _resolve(model_dir, 20, sae, 12332)

    assert torch.equal(direction, torch.from_numpy(params["W_dec"][12332]))  # the raw decoder row, exactly
    change = _steered_change(model_dir, 20, direction, 122.0)
    torch.testing.assert_close(change, (122.0 * direction).expand_as(change), rtol=1e-5, atol=1e-3)


def test_gemma_scope_2_loads_offline_by_release_name_and_steers_layer_12(hub_cache, tmp_path):
    # sae-lens's gemma_3 loader asks the hub for the tensor shapes even with the file cached: ours reads the file
    params = random_jumprelu_params(640, 16384, seed=2)
    build_gemma_scope_2_cache(
        hub_cache, params, "resid_post/layer_12_width_16k_l0_medium", "google/gemma-scope-2-270m-pt"
    )
    model_dir = build_tiny_gemma(tmp_path / "gemma-3-hidden-640", hidden_size=640, layers=13, generation=3)
    sae = SaeRef("layer_12_width_16k_l0_medium", "gemma-scope-2-270m-pt-res")

    direction = _resolve(model_dir, 12, sae, 4321)

    assert torch.equal(direction, torch.from_numpy(params["W_dec"][4321]))
    change = _steered_change(model_dir, 12, direction, -50.0)
    torch.testing.assert_close(change, (-50.0 * direction).expand_as(change), rtol=1e-5, atol=1e-3)


def test_a_gemma_scope_2_sae_on_the_wrong_layer_is_refused_by_name(hub_cache, tmp_path):
    params = random_jumprelu_params(640, 16384, seed=3)
    build_gemma_scope_2_cache(
        hub_cache, params, "resid_post/layer_12_width_16k_l0_medium", "google/gemma-scope-2-270m-pt"
    )
    model_dir = build_tiny_gemma(tmp_path / "gemma-3-hidden-640", hidden_size=640, layers=13, generation=3)
    with pytest.raises(ValueError, match="trained on layer 12 .* use layer=12"):
        _resolve(model_dir, 9, SaeRef("layer_12_width_16k_l0_medium", "gemma-scope-2-270m-pt-res"), 1)
