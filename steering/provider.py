"""The ``steered/<model>`` Inspect provider: per-sample steering, batched on a worker thread."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelCall,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from steering.directions import DEFAULT_SAE_ID, DEFAULT_SAE_RELEASE, SaeRef, check_layer
from steering.generation import Generation, GenerationParams, Request, generate_in_batches
from steering.hooks import RowSteering, check_positions
from steering.spec import SteeringSpec, spec_from_extra_body

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 256
DEFAULT_CONFIG = GenerateConfig()


@dataclass(frozen=True)
class ProviderArgs:
    """What is constant for a run (``-M key=value``); all of it lands in the eval log's model_args."""

    layer: int = 20
    sae_release: str = DEFAULT_SAE_RELEASE
    sae_id: str = DEFAULT_SAE_ID
    sae: str | None = None
    """A local SAE folder (sae-lens ``save_model`` layout); overrides sae_release/sae_id."""
    contrast: str = "french_english"
    sae_ts: str | None = None
    """A fitted SAE-TS approximator (.safetensors); default: the one `python -m steering.sae_ts fit` saves."""
    device: str | None = None
    dtype: str | None = None
    batch_size: int = 16
    batch_wait: float = 0.05
    """Seconds the worker waits for more requests before it runs a partial batch."""
    positions: str = "all"
    model_path: str | None = None
    fluency_proxy: bool = True
    """Score each reply's mean log-probability under the unsteered model (one extra forward pass)."""

    @classmethod
    def parse(cls, model_args: dict[str, Any]) -> ProviderArgs:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(model_args) - known)
        if unknown:
            raise ValueError(f"unknown model args {unknown} for steered/: valid are {sorted(known)}")
        args = cls(**model_args)
        if not isinstance(args.layer, int) or args.layer < 0:
            raise ValueError(f"layer must be a non-negative integer, got {args.layer!r}")
        if not isinstance(args.batch_size, int) or args.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {args.batch_size!r}")
        check_positions(args.positions)
        if args.dtype not in (None, "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype {args.dtype!r} is not one of float32, bfloat16, float16")
        return args


@dataclass
class _Pending:
    messages: list[dict[str, str]]
    spec: SteeringSpec | None
    params: GenerationParams
    seed: int | None
    future: Future


class SteeredModelAPI(ModelAPI):
    """A local Hugging Face causal LM whose residual stream is steered per sample.

    Steering arrives in ``GenerateConfig.extra_body["steering"]`` (see ``steering.spec``),
    so it is logged with each model call and is part of Inspect's cache key.
    Constructing the provider loads nothing; weights load on the first generate.
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = DEFAULT_CONFIG,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        self.args = ProviderArgs.parse(model_args)
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None
        # every run-constant setting, defaults and device resolved: logged with each model call
        self._resolved_args: dict[str, Any] = asdict(self.args)

    # --- loading (worker thread only) ---

    def _load(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            from steering.hooks import decoder_layers
            from steering.models import default_device, default_dtype, load_model
            from steering.sources import DirectionSource

            device = self.args.device or default_device()
            dtype = self.args.dtype or default_dtype(device)
            self._resolved_args = {**asdict(self.args), "device": device, "dtype": dtype}
            model, tokenizer = load_model(self.args.model_path or self.model_name, device, dtype)
            check_layer(self.args.layer, len(decoder_layers(model)))
            sae = (
                SaeRef(self.args.sae, release=None)
                if self.args.sae
                else SaeRef(self.args.sae_id, self.args.sae_release)
            )
            source = DirectionSource(
                model,
                tokenizer,
                self.args.layer,
                sae,
                self.args.contrast,
                sae_ts=self.args.sae_ts,
                model_name=self.args.model_path or self.model_name,
            )
            self._loaded = (model, tokenizer, source)
        return self._loaded

    # --- batching ---

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="steered-generate", daemon=True)
                self._worker.start()

    def _collect(self) -> list[_Pending]:
        items = [self._queue.get()]
        while len(items) < self.args.batch_size:
            try:
                items.append(self._queue.get(timeout=self.args.batch_wait))
            except queue.Empty:
                break
        return items

    def _work(self) -> None:
        while True:
            items = self._collect()
            groups: dict[GenerationParams, list[_Pending]] = {}
            for item in items:
                groups.setdefault(item.params, []).append(item)
            for params, group in groups.items():
                self._run(params, group)

    def _run(self, params: GenerationParams, items: list[_Pending]) -> None:
        try:
            model, tokenizer, source = self._load()
            source.prefetch([item.spec for item in items if item.spec is not None])
        except Exception as error:
            for item in items:
                item.future.set_exception(error)
            return
        requests, ready = [], []
        for item in items:
            try:
                rows = None
                if item.spec is not None:
                    (direction,) = source.resolve([item.spec])
                    rows = RowSteering(direction, float(item.spec.alpha), item.spec.method)
            except Exception as error:  # a bad feature fails its own sample, not the batch
                item.future.set_exception(error)
                continue
            requests.append(Request(item.messages, rows, item.seed))
            ready.append(item)
        if not ready:
            return
        started = time.monotonic()
        try:
            outputs = generate_in_batches(
                model,
                tokenizer,
                requests,
                params,
                self.args.layer,
                self.args.batch_size,
                self.args.positions,
                score_unsteered=self.args.fluency_proxy,
            )
        except Exception as error:
            for item in ready:
                item.future.set_exception(error)
            return
        elapsed = time.monotonic() - started
        for item, output in zip(ready, outputs):
            item.future.set_result((output, elapsed))

    # --- Inspect interface ---

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> tuple[ModelOutput, ModelCall]:
        if tools:
            raise ValueError("steered models do not support tool calling")
        spec = spec_from_extra_body(config.extra_body)
        messages = [{"role": m.role, "content": m.text} for m in input]
        params = GenerationParams(
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k,
            stop_seqs=tuple(config.stop_seqs or ()),
        )
        request = {
            "model": self.model_name,
            "messages": messages,
            "steering": spec.to_dict() if spec else None,
            "generation": {**asdict(params), "seed": config.seed},
        }
        future: Future = Future()
        self._ensure_worker()
        self._queue.put(_Pending(messages, spec, params, config.seed, future))
        output, elapsed = await asyncio.wrap_future(future)
        request["provider"] = self._resolved_args
        return self._model_output(output, params, spec, elapsed), ModelCall.create(
            request=request, response=self._response(output), time=elapsed
        )

    def _model_output(
        self, output: Generation, params: GenerationParams, spec: SteeringSpec | None, elapsed: float
    ) -> ModelOutput:
        result = ModelOutput.from_content(
            model=self.model_name,
            content=output.text,
            stop_reason="max_tokens" if output.stop_reason == "max_tokens" else "stop",
        )
        result.usage = ModelUsage(
            input_tokens=output.input_tokens,
            output_tokens=output.output_tokens,
            total_tokens=output.input_tokens + output.output_tokens,
        )
        result.time = elapsed
        result.metadata = {
            "steering": spec.to_dict() if spec else None,
            "unsteered_logprob": output.unsteered_logprob,
        }
        return result

    @staticmethod
    def _response(output: Generation) -> dict[str, Any]:
        return {
            "text": output.text,
            "output_tokens": output.output_tokens,
            "stop_reason": output.stop_reason,
            "unsteered_logprob": output.unsteered_logprob,
        }

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        # enough samples in flight to fill a batch while the previous one runs
        return 2 * self.args.batch_size

    def collapse_user_messages(self) -> bool:
        return True
