import math

import pytest
import torch

from steering.generation import chat_prompt
from steering.hooks import RowSteering, _SteeringHook, decoder_layers, recording, steering_hook

LAYER = 2


class _Batch(dict):
    @property
    def input_ids(self):
        return self["input_ids"]


PROMPTS = [
    "Hello",
    "Write a short story about a lighthouse keeper and the sea at night.",
    "Explain how a bicycle works.",
]


def _layer_output(model, batch, rows=None):
    """Layer LAYER's output as the next layer sees it (recorded after the steering hook)."""
    with torch.no_grad(), steering_hook(model, LAYER, rows or [None] * batch.input_ids.shape[0]):
        with recording(model, LAYER) as seen:
            model(**batch)
    return seen[0]


def _direction(model):
    torch.manual_seed(1)
    return torch.randn(model.config.hidden_size)


@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("positions", ["all", "generated"])
def test_add_output_equals_h_plus_alpha_v_on_prefill_and_decode(tiny, positions, cache):
    # a static cache (the compiled path's) hands the model 4-D masks: the hook reads the prompt's mask instead
    model, tokenizer = tiny
    v = _direction(model)
    alphas = [3.0, 0.0, -7.5]
    prompts = [chat_prompt(tokenizer, [{"role": "user", "content": p}]) for p in PROMPTS]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    prompt_length = batch.input_ids.shape[1]
    rows = [RowSteering(v, a) for a in alphas]
    static = {"cache_implementation": "static", "disable_compile": True} if cache == "static" else {}
    prompt_mask = batch.attention_mask if cache == "static" else None
    with (
        steering_hook(model, LAYER, rows, positions, prompt_length, prompt_mask),
        recording(model, LAYER) as seen,
    ):
        sequences = model.generate(**batch, max_new_tokens=6, do_sample=False, min_new_tokens=6, **static)

    assert seen[0].shape[1] == prompt_length and [s.shape[1] for s in seen[1:]] == [1] * 5
    steered = torch.cat(seen, dim=1)  # every position but the last generated one
    ids = sequences[:, :-1]
    mask = torch.cat([batch.attention_mask, torch.ones(3, 5, dtype=torch.long)], dim=1)
    # the same tokens through the model with steering off
    position_ids = (mask.cumsum(1) - 1).clamp_min(0)
    plain = _layer_output(model, _Batch(input_ids=ids, attention_mask=mask, position_ids=position_ids))

    pad = ~mask.bool()
    assert pad.any(), "the prompts must differ in length so that left padding exists"
    steered_positions = mask.bool().clone()
    if positions == "generated":
        steered_positions[:, : prompt_length - 1] = False
    for row, alpha in enumerate(alphas):
        on = steered_positions[row]
        torch.testing.assert_close(steered[row, on], plain[row, on] + alpha * v, atol=1e-4, rtol=1e-4)
        off = mask[row].bool() & ~on
        torch.testing.assert_close(steered[row, off], plain[row, off], atol=1e-4, rtol=1e-4)
    assert steered_positions[:, prompt_length:].all()


def test_padding_positions_are_never_touched(tiny):
    model, tokenizer = tiny
    v = _direction(model)
    prompts = [chat_prompt(tokenizer, [{"role": "user", "content": p}]) for p in PROMPTS]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    pad = ~batch.attention_mask.bool()
    assert pad.any(), "the prompts must differ in length so that left padding exists"
    plain = _layer_output(model, batch)
    steered = _layer_output(model, batch, [RowSteering(v, 100.0)] * 3)
    assert torch.equal(steered[pad], plain[pad])
    torch.testing.assert_close(steered[~pad], plain[~pad] + 100.0 * v, atol=1e-4, rtol=1e-5)


def test_add_renorm_keeps_norms_inside_the_model(tiny):
    model, tokenizer = tiny
    v = _direction(model)
    prompt = chat_prompt(tokenizer, [{"role": "user", "content": PROMPTS[1]}])
    batch = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    plain = _layer_output(model, batch)
    renormed = _layer_output(model, batch, [RowSteering(v, 200.0, "add_renorm")])
    added = _layer_output(model, batch, [RowSteering(v, 200.0, "add")])
    relative_error = (renormed.norm(dim=-1) - plain.norm(dim=-1)).abs() / plain.norm(dim=-1)
    assert relative_error.max() < 1e-5
    assert (renormed - added).norm(dim=-1).min() > 100


def _hook_counts(model):
    layers = decoder_layers(model)
    return sum(len(layer._forward_hooks) for layer in layers) + len(model.model._forward_pre_hooks)


def test_hooks_are_removed_after_the_block_and_when_generation_raises(tiny):
    model, tokenizer = tiny
    v = _direction(model)
    before = _hook_counts(model)
    with steering_hook(model, LAYER, [RowSteering(v, 1.0)]):
        assert _hook_counts(model) == before + 2
    assert _hook_counts(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with steering_hook(model, LAYER, [RowSteering(v, 1.0)]):
            raise RuntimeError("boom")
    assert _hook_counts(model) == before
    # a batch-size mismatch raises inside generate; the hooks still come off
    with pytest.raises(ValueError, match="set for 2 rows"):
        with steering_hook(model, LAYER, [RowSteering(v, 1.0)] * 2):
            model(input_ids=torch.tensor([[1, 2, 3]]))
    assert _hook_counts(model) == before


def test_layer_out_of_range_names_the_valid_range(tiny):
    model, _ = tiny
    with pytest.raises(ValueError, match=r"layer 4 is out of range: the model has 4 decoder layers \(0..3\)"):
        with steering_hook(model, 4, [RowSteering(_direction(model), 1.0)]):
            pass


@pytest.mark.parametrize("alpha", [math.nan, math.inf, -math.inf])
def test_non_finite_alpha_is_rejected(alpha):
    with pytest.raises(ValueError, match=f"alpha must be a finite number, got {alpha}"):
        RowSteering(torch.ones(4), alpha)


def test_unknown_method_is_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown steering method 'scale'.*'add', 'add_renorm'"):
        RowSteering(torch.ones(4), 1.0, "scale")


def test_direction_of_the_wrong_size_names_both_sizes(tiny):
    model, _ = tiny
    with pytest.raises(ValueError, match="has 10 dimensions but the model's hidden size is 64"):
        with steering_hook(model, LAYER, [RowSteering(torch.ones(10), 1.0)]):
            model(input_ids=torch.tensor([[1, 2, 3]]))


def test_unknown_positions_are_rejected(tiny):
    model, _ = tiny
    with pytest.raises(ValueError, match=r"unknown positions 'prompt'"):
        with steering_hook(model, LAYER, [None], positions="prompt"):
            pass


def test_bfloat16_models_are_steered_with_float32_arithmetic(tiny):
    model, tokenizer = tiny
    v = _direction(model)
    hook = _SteeringHook([RowSteering(v, 122.3), None], "all", None)
    hidden = (torch.randn(2, 3, 64) * 50).to(torch.bfloat16)
    steered = hook(None, (), hidden)
    assert steered.dtype == torch.bfloat16
    expected = (hidden[0].float() + 122.3 * v).to(torch.bfloat16)
    assert torch.equal(steered[0], expected)
    assert torch.equal(steered[1], hidden[1])
