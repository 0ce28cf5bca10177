"""The gemma-2-2b-shaped benchmark model and a Gemma Scope-shaped SAE, on CPU: a smoke run of the real shapes."""

from __future__ import annotations

import pytest
import torch

from steering.directions import SaeRef, check_sae_fits, load_sae, sae_feature_directions
from steering.generation import GenerationParams, Request, generate
from steering.hooks import RowSteering
from steering.testing import GEMMA_2B_D_SAE, GEMMA_2B_SAE_LAYER, build_gemma_2b_shaped, build_tiny_sae


@pytest.mark.slow
def test_the_seed_sweep_shapes_run_end_to_end_on_cpu(tmp_path):
    model, tokenizer = build_gemma_2b_shaped("cpu", torch.bfloat16)
    config = model.config
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (26, 2304, 256000)
    assert sum(p.numel() for p in model.parameters()) == 2_614_341_888
    sae_dir = build_tiny_sae(
        tmp_path / "sae", layer=GEMMA_2B_SAE_LAYER, d_in=2304, d_sae=GEMMA_2B_D_SAE, model_name="gemma-2-2b"
    )
    sae = load_sae(SaeRef(str(sae_dir), release=None))
    check_sae_fits(d_in=sae.cfg.d_in, hook_name=sae.cfg.metadata.hook_name, hidden_size=2304, layer=20, sae_name="s")
    direction = sae_feature_directions(sae, [12332]).rows[12332]
    params = GenerationParams(max_new_tokens=2, temperature=0.5)
    rows = [
        Request([{"role": "user", "content": "Tell me about the sea."}], RowSteering(direction, 300.0, "add"), 16),
        Request([{"role": "user", "content": "Hi"}], RowSteering(direction, -300.0, "add_renorm"), 16),
    ]
    out = generate(model, tokenizer, rows, params, layer=GEMMA_2B_SAE_LAYER)
    # every row runs the full max_tokens: the timing benchmark depends on it
    assert [o.output_tokens for o in out] == [2, 2] and [o.error for o in out] == [None, None]
