import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from steering.defaults import DEFAULT_SAE_ID, DEFAULT_SAE_RELEASE
from steering.directions import (
    SaeRef,
    check_sae_fits,
    content_positions,
    diff_of_means,
    load_sae,
    load_vector_file,
    sae_feature_directions,
)
from steering.hooks import recording
from steering.testing import TINY_D_SAE, TINY_SAE_LAYER, local_converter


def test_gemma_scope_release_loads_through_the_real_from_pretrained_call(tiny_sae_dir, tiny_sae):
    calls = []
    sae = load_sae(SaeRef(DEFAULT_SAE_ID, DEFAULT_SAE_RELEASE), converter=local_converter(tiny_sae_dir, calls))
    # sae-lens resolved the release to Gemma Scope's repo and folder before asking the converter
    assert calls == [{"repo_id": "google/gemma-scope-2b-pt-res", "folder_name": "layer_20/width_16k/average_l0_71"}]
    assert torch.equal(sae.W_dec, tiny_sae.W_dec)


def test_decoder_rows_are_raw_by_default_and_unit_on_request(tiny_sae):
    raw = sae_feature_directions(tiny_sae, [5, 9])
    assert sorted(raw.rows) == [5, 9]
    assert torch.equal(raw.rows[5], tiny_sae.W_dec[5])
    assert raw.rows[5].norm() != pytest.approx(1.0)
    unit = sae_feature_directions(tiny_sae, [5], normalize=True)
    assert unit.rows[5].norm().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(unit.rows[5] * tiny_sae.W_dec[5].norm(), tiny_sae.W_dec[5])
    assert (raw.d_sae, raw.d_in, raw.hook_name) == (
        TINY_D_SAE,
        64,
        f"blocks.{TINY_SAE_LAYER}.hook_resid_post",
    )


def test_feature_out_of_range_names_the_valid_range(tiny_sae):
    with pytest.raises(ValueError, match=r"feature 256 is out of range: tiny has 256 features \(0..255\)"):
        sae_feature_directions(tiny_sae, [256], sae_name="tiny")
    with pytest.raises(ValueError, match=r"feature -1 is out of range"):
        sae_feature_directions(tiny_sae, [-1])


def test_sae_that_does_not_fit_the_model_is_rejected():
    with pytest.raises(ValueError, match="has d_in=2304 but the model's hidden size is 64"):
        check_sae_fits(d_in=2304, hook_name="blocks.20.hook_resid_post", hidden_size=64, layer=20, sae_name="gs")
    with pytest.raises(ValueError, match="trained on layer 2 .* but steering is set to layer 3"):
        check_sae_fits(d_in=64, hook_name="blocks.2.hook_resid_post", hidden_size=64, layer=3, sae_name="tiny")
    with pytest.raises(ValueError, match="only residual-stream SAEs"):
        check_sae_fits(d_in=64, hook_name="blocks.2.hook_mlp_out", hidden_size=64, layer=2, sae_name="tiny")
    check_sae_fits(d_in=64, hook_name="blocks.2.hook_resid_post", hidden_size=64, layer=2, sae_name="tiny")


def test_vector_files_load_without_pickle(tmp_path):
    vector = torch.arange(8, dtype=torch.float32)
    save_file({"french": vector}, tmp_path / "v.safetensors")
    assert torch.equal(load_vector_file(tmp_path / "v.safetensors"), vector)
    np.save(tmp_path / "v.npy", vector.numpy())
    assert torch.equal(load_vector_file(tmp_path / "v.npy"), vector)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_vector_file(tmp_path / "objects.npy")
    with pytest.raises(ValueError, match="must end in .safetensors or .npy"):
        (tmp_path / "v.pt").write_bytes(b"not loaded")
        load_vector_file(tmp_path / "v.pt")


def test_diff_of_means_skips_the_first_token(tiny):
    model, tokenizer = tiny
    vector = diff_of_means(model, tokenizer, 2, ["Bonjour le monde"], ["Hello world"])
    assert vector.shape == (64,)
    batch = tokenizer(["Bonjour le monde", "Hello world"], return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states[3]
    means = []
    for row in range(2):
        keep = batch.attention_mask[row].bool().clone()
        keep[keep.nonzero()[0]] = False  # the row's first real token
        means.append(hidden[row, keep].mean(0))
    torch.testing.assert_close(vector, means[0] - means[1], atol=1e-5, rtol=1e-5)


def test_diff_of_means_on_the_last_layer_is_taken_where_the_hook_steers(tiny):
    """hidden_states[-1] is the final norm's output, not the last layer's: the mean must use the layer output."""
    model, tokenizer = tiny
    last = model.config.num_hidden_layers - 1
    positive, negative = ["Bonjour le monde", "Le chat dort"], ["Hello world"]
    vector = diff_of_means(model, tokenizer, last, positive, negative)
    means = []
    for texts in (positive, negative):
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        with torch.no_grad(), recording(model, last) as seen:
            model(**batch)
        keep = content_positions(batch["attention_mask"])
        means.append(seen[0][keep].mean(0))
    torch.testing.assert_close(vector, means[0] - means[1], atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # what the old code averaged differs here (the final norm's output)
        final = model(**tokenizer(negative, return_tensors="pt"), output_hidden_states=True).hidden_states[-1]
    assert (final - seen[0]).abs().max() > 0.1
