import pytest

from steering.provider.args import ProviderArgs
from steering.provider.model_api import SteeredModelAPI
from steering.spec import SteeringSpec, spec_from_extra_body


def test_constructing_the_provider_loads_nothing():
    # Inspect constructs providers for model-info lookups; a missing model must not matter yet
    api = SteeredModelAPI("no/such-model", layer=3)
    assert api._loaded is None and api._worker._thread is None
    assert api.args.layer == 3 and api.args.sae_release == "gemma-scope-2b-pt-res-canonical"


def test_samples_in_flight_are_four_batches_and_the_cpu_batch_is_16():
    from inspect_ai.util._concurrency import adaptive_active

    from evals.judge import criteria
    from evals.sweep import sweep_task

    assert SteeredModelAPI("no/such-model").max_connections() == 4 * 16
    assert SteeredModelAPI("no/such-model", batch_size=3).max_connections() == 12
    # Inspect would ignore max_connections() under its default adaptive concurrency: the sweep opts out
    config = sweep_task(name="t", criterion=criteria()["french"], feature=1).config
    assert not adaptive_active(config.adaptive_connections, config.max_connections, config.batch)


def test_unknown_model_args_are_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown model args \['layers'\].*'layer'"):
        ProviderArgs.parse({"layers": 3})
    with pytest.raises(ValueError, match="unknown positions 'prompt'"):
        ProviderArgs.parse({"positions": "prompt"})
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer \(or left out for automatic\), got 0"):
        ProviderArgs.parse({"batch_size": 0})


def test_extra_body_steering_is_validated_strictly():
    assert spec_from_extra_body(None) is None
    spec = spec_from_extra_body({"steering": {"alpha": 3, "method": "add_renorm", "feature": 12332}})
    assert spec == SteeringSpec(alpha=3, method="add_renorm", feature=12332)
    with pytest.raises(ValueError, match=r"unknown steering keys \['strength'\]"):
        spec_from_extra_body({"steering": {"alpha": 1, "feature": 1, "strength": 2}})
    with pytest.raises(ValueError, match=r"unknown extra_body keys \['temperature'\]"):
        spec_from_extra_body({"steering": {"alpha": 1, "feature": 1}, "temperature": 1})
    with pytest.raises(ValueError, match="steering alpha must be a finite number, got nan"):
        SteeringSpec(alpha=float("nan"), feature=1)
    with pytest.raises(ValueError, match="vector='sae' needs a feature id"):
        SteeringSpec(alpha=1.0)
    with pytest.raises(ValueError, match="unknown steering method 'bogus'"):
        SteeringSpec(alpha=1.0, feature=1, method="bogus")


def test_direction_source_keeps_only_the_rows_asked_for_and_checks_the_layer(tiny, tiny_sae_dir, tiny_sae):
    from steering.directions import SaeRef
    from steering.sources.resolver import DirectionResolver

    model, tokenizer = tiny
    source = DirectionResolver(model, tokenizer, 2, SaeRef(str(tiny_sae_dir), release=None))
    raw, unit = source.resolve([SteeringSpec(alpha=1, feature=9), SteeringSpec(alpha=1, feature=9, normalize=True)])
    assert raw.data_ptr() != tiny_sae.W_dec.data_ptr()
    assert (raw == tiny_sae.W_dec[9]).all() and abs(unit.norm().item() - 1) < 1e-6
    assert {key[1] for key in source._cache} == {9}
    wrong_layer = DirectionResolver(model, tokenizer, 1, SaeRef(str(tiny_sae_dir), release=None))
    with pytest.raises(ValueError, match="trained on layer 2 .* but steering is set to layer 1"):
        wrong_layer.resolve([SteeringSpec(alpha=1, feature=9)])


def test_difference_of_means_direction_from_the_shipped_contrast_set(tiny):
    from steering.directions import SaeRef
    from steering.sources import load_contrast
    from steering.sources.resolver import DirectionResolver

    positive, negative = load_contrast("french_english")
    assert len(positive) == len(negative) >= 20
    model, tokenizer = tiny
    source = DirectionResolver(model, tokenizer, 2, SaeRef("unused"))
    (vector,) = source.resolve([SteeringSpec(alpha=1, vector="diff_of_means")])
    assert vector.shape == (64,) and vector.norm() > 0
    with pytest.raises(ValueError, match="contrast set 'klingon' not found"):
        load_contrast("klingon")


def test_one_sae_load_serves_a_batch_and_a_bad_feature_fails_alone(tiny, tiny_sae_dir, monkeypatch):
    from steering.directions import SaeRef
    from steering.sources import resolver as sources
    from steering.sources.resolver import DirectionResolver

    loads = []
    real = sources.load_sae
    monkeypatch.setattr(sources, "load_sae", lambda *a, **k: loads.append(a) or real(*a, **k))
    model, tokenizer = tiny
    source = DirectionResolver(model, tokenizer, 2, SaeRef(str(tiny_sae_dir), release=None))
    specs = [SteeringSpec(alpha=1, feature=f) for f in (3, 7, 999, 11)]
    source.prefetch(specs)
    assert len(loads) == 1
    for spec in specs[:2] + specs[3:]:
        source.resolve([spec])
    with pytest.raises(ValueError, match=r"feature 999 is out of range: .* has 256 features \(0..255\)"):
        source.resolve([specs[2]])
    assert len(loads) == 1


def test_the_provider_is_found_from_any_directory_through_the_entry_point(tmp_path):
    import subprocess
    import sys

    code = "from inspect_ai.model import get_model; print(type(get_model('steered/any/model').api).__name__)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "SteeredModelAPI", done.stderr[-2000:]


def test_weights_load_once_per_process(tiny_model_dir):
    from steering.models import load_model

    first = load_model(str(tiny_model_dir), "cpu", "float32")
    assert load_model(str(tiny_model_dir), "cpu", "float32") is first


def test_the_attention_kernel_is_chosen_deliberately_and_logged(tiny_model_dir, tiny_sae_dir, tmp_path):
    """Gemma 2 was trained with attention-logit softcapping: eager by default, sdpa refused by name."""
    from inspect_ai import eval as inspect_eval
    from transformers import AutoConfig

    from evals.french import french
    from steering.models import choose_attention, versions
    from steering.testing import build_tiny_gemma

    gemma2 = AutoConfig.from_pretrained(tiny_model_dir)
    gemma3 = AutoConfig.from_pretrained(build_tiny_gemma(tmp_path / "gemma-3", generation=3))
    assert gemma2.attn_logit_softcapping == 50.0 and choose_attention(gemma2, None) == "eager"
    assert choose_attention(gemma3, None) == "sdpa" and choose_attention(gemma3, "eager") == "eager"
    with pytest.raises(ValueError, match=r"attn='sdpa' drops this model's attention-logit softcapping \(50.0\)"):
        choose_attention(gemma2, "sdpa")

    task = french(feature=5, alphas="0", methods="add", n_prompts=1, judge=False, prompting=False, max_tokens=4)
    (log,) = inspect_eval(
        task, model=f"steered/{tiny_model_dir}", model_args={"layer": 2, "sae": str(tiny_sae_dir)},
        log_dir=str(tmp_path / "logs"), display="none",
    )  # fmt: skip
    assert log.status == "success", log.error
    (call,) = [e for e in log.samples[0].events if e.event == "model"]
    provider = call.call.request["provider"]
    assert provider["attn"] == "eager" and provider["versions"] == versions() and provider["dtype"] == "float32"


def test_device_map_auto_loads_through_accelerate_and_steers_exactly(tiny_model_dir):
    """-M device=auto (several GPUs on a real host) places layers with accelerate; the hook follows each layer."""
    import torch

    from steering.hooks import RowSteering, recording, steering_hook
    from steering.models import load_model
    from steering.provider.args import ProviderArgs

    assert ProviderArgs.parse({"device": "auto"}).device == "auto"
    model, tokenizer = load_model(str(tiny_model_dir), "auto", "float32")
    assert model.device.type == "cpu"  # with no GPU, accelerate keeps every layer on the CPU
    batch = tokenizer(["Hello there", "Hi"], return_tensors="pt", padding=True).to(model.device)
    direction = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    outputs = []
    for rows in ([None, None], [RowSteering(direction, 4.0), RowSteering(direction, 4.0)]):
        with torch.no_grad(), steering_hook(model, 2, rows), recording(model, 2) as seen:
            model(**batch)
        outputs.append(seen[0])
    real = batch["attention_mask"].bool()
    change = outputs[1] - outputs[0]
    torch.testing.assert_close(change[real], (4.0 * direction).expand(int(real.sum()), -1), rtol=1e-5, atol=1e-5)
    assert torch.equal(change[~real], torch.zeros_like(change[~real]))
