"""A real ``vllm serve`` on loopback steers through the package's plugin; one without it is refused.

The two servers are subprocesses on free ports of 127.0.0.1, started together and stopped by the module's
fixture (about a minute to start on 2 cores). Gemma 3 270M, float32, greedy.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import wait
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from steering.engines.vllm_engine import VllmGenerator
from steering.generation import GenerationParams, Request
from steering.hooks import RowSteering

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed"),
    pytest.mark.slow,
]
LAYER = 6
PROMPTS = ["I think", "The weather today", "When I was a child,", "A good breakfast"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(model_dir: str, plugins: tuple[bool, ...], folder: Path) -> Iterator[list[str]]:
    """``vllm serve`` subprocesses on free loopback ports, one per plugin setting, started together (each start
    is mostly one busy thread: two overlap on 2 cores); always stopped."""
    import httpx

    processes, urls, logs = [], [], []
    try:
        for plugin in plugins:
            port = free_port()
            env = {**os.environ, "STEERING_VLLM_PLUGIN": "1" if plugin else "0", "VLLM_CPU_OMP_THREADS_BIND": "0,1"}
            command = [
                # the server module itself: the `vllm` script asks for the distribution "vllm", which vllm-cpu is not
                sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
                "--host", "127.0.0.1", "--port", str(port),
                "--dtype", "float32", "--enforce-eager", "--max-model-len", "512", "--max-num-seqs", "64",
                "--kv-cache-memory-bytes", str(2**29), "--generation-config", "vllm",
            ]  # fmt: skip
            logs.append(folder / f"serve-plugin-{int(plugin)}.log")
            with open(logs[-1], "w") as out:
                processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env))
            urls.append(f"http://127.0.0.1:{port}/v1")
        deadline = time.monotonic() + 300
        for process, url, log in zip(processes, urls, logs):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"vllm serve exited with {process.returncode}: {log.read_text()[-3000:]}")
                try:
                    if httpx.get(url + "/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"vllm serve did not start in 300 s: {log.read_text()[-3000:]}")
                time.sleep(1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def model_dir() -> str:
    from steering.models import resolve_model_path

    return resolve_model_path("gemma-3-270m")


@pytest.fixture(scope="module")
def servers(model_dir, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The URLs of two servers of the module: ``plugin`` (the package's plugin loaded) and ``bare`` (without)."""
    with serve(model_dir, (True, False), tmp_path_factory.mktemp("serve")) as (plugin, bare):
        yield {"plugin": plugin, "bare": bare}


def replies(engine, requests: list[Request]) -> list[list[int]]:
    from transformers import AutoTokenizer

    from steering.models import resolve_model_path

    generator = VllmGenerator(engine, AutoTokenizer.from_pretrained(resolve_model_path("gemma-3-270m")), LAYER)
    futures = [generator.submit(r, GenerationParams(max_new_tokens=12)) for r in requests]
    wait(futures, timeout=600)
    return [f.result()[0].token_ids for f in futures]


def test_a_vllm_server_with_the_plugin_gives_the_engines_replies(servers):
    from steering.engines.vllm_server import VllmServer

    direction = torch.randn(640, generator=torch.Generator().manual_seed(0))
    direction = direction / direction.norm() * 700
    requests = [
        Request([{"role": "user", "content": p}], s, chat=False)
        for s in (None, RowSteering(direction, 1.0), RowSteering(direction, 0.5, "add_renorm"))
        for p in PROMPTS
    ]
    server = VllmServer(servers["plugin"])
    server.check_steers([2, 818], LAYER, 640)  # passes: the plugin steers
    over_http = replies(server, requests)
    server.stop()
    # the HF engine's replies: the in-process vLLM engine gives the same (tests/test_vllm_engine.py)
    from steering.generation import generate_in_batches
    from steering.models import load_model

    model, tokenizer = load_model("gemma-3-270m", "cpu", "float32")
    local = generate_in_batches(model, tokenizer, requests, GenerationParams(max_new_tokens=12), LAYER, 16)
    assert over_http == [g.token_ids for g in local]
    assert over_http[:4] != over_http[4:8]


def test_a_vllm_server_without_the_plugin_is_refused_naming_it(servers):
    from steering.provider.model_api import SteeredModelAPI

    url = servers["bare"]
    provider = SteeredModelAPI("gemma-3-270m", base_url=url, engine="vllm", layer=LAYER, chat_template=False)
    with pytest.raises(ValueError, match=f"the vLLM server at {url} does not steer"):
        provider._vllm_side()
