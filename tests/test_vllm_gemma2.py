"""The vLLM engine on a tiny random Gemma-2 (attention-logit softcapping, hidden 128, head_dim 32) equals the HF
engine token for token: the architecture the mission steers (gemma-2-2b-it), offline."""

from __future__ import annotations

import importlib.util
from concurrent.futures import wait

import pytest
import torch

from steering.engines.vllm_engine import VllmGenerator, VllmSettings, shared_engine
from steering.generation import GenerationParams, Request, generate_in_batches
from steering.hooks import RowSteering

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed"),
    pytest.mark.slow,
]
LAYER = 2
PROMPTS = ["Tell me about the sea.", "What is a cat?", "Write one line about rain."]


def test_vllm_on_a_tiny_gemma_2_equals_the_hf_engine(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from steering.testing import build_tiny_gemma

    path = build_tiny_gemma(tmp_path_factory.mktemp("gemma2") / "tiny", hidden_size=128, head_dim=32)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.attn_logit_softcapping, "the fixture must exercise Gemma-2's softcap"
    direction = torch.randn(128, generator=torch.Generator().manual_seed(0))
    requests = [
        Request([{"role": "user", "content": p}], steering)
        for steering in (None, RowSteering(direction, 4.0), RowSteering(direction, 2.0, "add_renorm"))
        for p in PROMPTS
    ]
    params = GenerationParams(max_new_tokens=10)
    hf = generate_in_batches(model, tokenizer, requests, params, LAYER, 16)
    engine = shared_engine(str(path), "float32", VllmSettings(max_model_len=256, kv_cache_memory=0.25))
    try:
        engine.wait_ready()
        generator = VllmGenerator(engine, tokenizer, LAYER)
        futures = [generator.submit(r, params) for r in requests]
        wait(futures, timeout=300)
        assert [f.result()[0].token_ids for f in futures] == [g.token_ids for g in hf]
    finally:
        engine.stop()
    assert [g.token_ids for g in hf[:3]] != [g.token_ids for g in hf[3:6]], "steering changed no reply"
