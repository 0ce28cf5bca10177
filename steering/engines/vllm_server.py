"""A running ``vllm serve`` as the vLLM engine (``-M engine=vllm -M base_url=http://HOST:PORT/v1``).

The server may span cards and nodes as vLLM documents; it steers when this package is installed beside it (its
``vllm.general_plugins`` entry point). Requests go to the OpenAI-compatible ``/v1/completions`` endpoint with the
prompt as token ids, the steering in ``vllm_xargs`` and a ``cache_salt``; the reply comes back as token ids, so
it is decoded exactly as the in-process engine's. Before the first reply is used the provider checks that the
server steers at all (``check_steers``): a server without the plugin would answer every alpha unsteered.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from steering.engines.vllm_engine import Completion
from steering.engines.wire import EXTRA_ARGS_KEY, WireSteering, cache_salt

CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 600.0


class VllmServer:
    """The same ``submit(ids, salt, options)`` as the in-process engine, over HTTP; thread-safe."""

    def __init__(self, base_url: str, max_in_flight: int = 256) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT))
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="vllm-server")
        self._in_flight = 0
        self._lock = threading.Lock()
        self.description = self._describe()

    def _get(self, path: str) -> Any:
        import httpx

        try:
            response = self._client.get(self.base_url + path, timeout=CONNECT_TIMEOUT)
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise ValueError(f"the vLLM server at {self.base_url} cannot be reached ({error})") from None
        return response.json()

    def _describe(self) -> dict[str, Any]:
        models = self._get("/models").get("data") or []
        if not models:
            raise ValueError(f"the vLLM server at {self.base_url} serves no model")
        self.model = models[0]["id"]
        root = self.base_url.removesuffix("/v1")
        try:
            version = self._client.get(root + "/version", timeout=CONNECT_TIMEOUT).json().get("version", "unknown")
        except Exception:  # noqa: BLE001 - the version is logged, not needed
            version = "unknown"
        return {"name": "vllm", "server": self.base_url, "model": self.model, "version": version}

    def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        return self.description

    def submit(self, prompt_ids: list[int], salt: str | None, options: dict[str, Any]) -> Future:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt_ids, "return_token_ids": True}
        for key, value in options.items():
            if value is None:
                continue
            body["vllm_xargs" if key == "extra_args" else key] = value
        if salt:
            body["cache_salt"] = salt
        return self._pool.submit(self._post, body, len(prompt_ids))

    def _post(self, body: dict[str, Any], prompt_length: int) -> Completion:
        with self._lock:
            self._in_flight += 1
            in_flight = self._in_flight
        try:
            response = self._client.post(self.base_url + "/completions", json=body)
            if response.status_code != 200:
                raise RuntimeError(f"the vLLM server at {self.base_url} answered {response.status_code}: "
                                   f"{response.text[:500]}")  # fmt: skip
            choice = response.json()["choices"][0]
        finally:
            with self._lock:
                self._in_flight -= 1
        logprobs = None
        if choice.get("prompt_logprobs") is not None:
            logprobs = [
                None if entry is None else entry[str(token)]["logprob"]
                for entry, token in zip(choice["prompt_logprobs"], body["prompt"])
            ]
        return Completion(list(choice["token_ids"]), choice.get("finish_reason"), logprobs, in_flight)

    def check_steers(self, prompt_ids: list[int], layer: int, hidden_size: int) -> None:
        """Fail, naming the server, when a strongly steered greedy reply equals the unsteered one."""
        direction = torch.randn(hidden_size, generator=torch.Generator().manual_seed(0))
        wire = WireSteering(layer, 1.0, "add", direction / direction.norm() * 1e4).encode()
        options = {"max_tokens": 4, "temperature": 0.0, "top_k": 0, "top_p": 1.0}
        plain = self.submit(prompt_ids, None, options)
        steered = self.submit(prompt_ids, cache_salt(wire), {**options, "extra_args": {EXTRA_ARGS_KEY: wire}})
        if plain.result().token_ids == steered.result().token_ids:
            raise ValueError(
                f"the vLLM server at {self.base_url} does not steer: a reply pushed along a direction of norm 10,000 "
                "equals the unsteered one. Install steering-eval where the server runs (its vllm.general_plugins "
                "entry point steers every vLLM process) and check that VLLM_PLUGINS, if set, names 'steering'"
            )

    def stop(self, timeout: float = 30.0) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
