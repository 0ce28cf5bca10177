"""The ``steered/<model>`` Inspect provider: per-sample steering, batched on a worker thread."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Hashable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
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

from steering.directions import SaeRef
from steering.generation import Generation, GenerationParams, Request, generate_in_batches, prompt_text
from steering.hooks import RowSteering
from steering.layers import check_layer
from steering.models import model_lock, versions
from steering.prompting import instructed
from steering.provider.args import ProviderArgs, check_layer_before_loading
from steering.provider.errors import input_error
from steering.provider.sharing import RequestSharing, share_key
from steering.sampling import prompt_seed
from steering.sizing import CPU_BATCH_SIZE, MAX_BATCH_SIZE, choose_batch_size
from steering.spec import SteeringSpec, spec_from_extra_body
from steering.worker import BatchWorker, Job

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 256
DEFAULT_CONFIG = GenerateConfig()


def model_label(name: str) -> str:
    """The model's name in logs and Inspect's cache, the same however a local folder is spelled.

    Inspect turns caching off for a name with ``.``/``..`` segments or an absolute path (its cache folder
    would be outside the cache), which would void "a retry regenerates nothing". A local folder inside the
    working directory is named by its normalised relative path, one elsewhere by its name and a hash of
    its resolved path; a hub id is left as it is.
    """
    path = Path(name).expanduser()
    if not path.is_dir():
        return name
    resolved = path.resolve()
    try:
        relative = resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        relative = "."
    return relative if relative != "." else f"{resolved.name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"


@dataclass
class _Pending:
    messages: list[dict[str, str]]
    spec: SteeringSpec | None
    seed: int | None


_RESOLVE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="steering-resolve")
"""Where vLLM requests get their directions resolved (an SAE or the HF model may load), off the event loop."""


def _complete(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Complete a future its caller may have cancelled meanwhile."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def _epoch() -> int:
    """The epoch of the sample this call generates for (1 outside a sample): epochs are new draws."""
    from inspect_ai.log._samples import sample_active  # the running sample's record (private API)

    active = sample_active()
    return int(active.epoch) if active is not None else 1


class SteeredModelAPI(ModelAPI):
    """A local Hugging Face causal LM whose residual stream is steered per sample.

    Steering arrives in ``GenerateConfig.extra_body["steering"]`` (see ``steering.spec``),
    so it is logged with each model call and is part of Inspect's cache key.
    Constructing the provider loads nothing; weights load on the first generate.
    """

    generated_total = 0
    """Replies generated in this process (Inspect's cache hits never reach a provider)."""
    in_flight = 0
    peak_in_flight = 0
    """Most generate calls waiting or running at once in this process (benchmarks read it)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = DEFAULT_CONFIG,
        **model_args: Any,
    ) -> None:
        try:
            self._setup(model_name, base_url, api_key, config, model_args)
        except ValueError as error:  # the user's arguments: one line, no traceback (steering.provider.errors)
            raise input_error(error) from None

    def _setup(
        self, model_name: str, base_url: str | None, api_key: str | None, config: GenerateConfig, model_args: dict
    ) -> None:
        self._path = model_name
        args = ProviderArgs.parse(model_args)
        # Inspect's cache key has the base URL but not the model args: naming the output-changing -M arguments
        # here keeps a task's cached replies at one alpha (or instruction, layer, SAE) from answering another
        if base_url and args.engine != "vllm":
            raise ValueError(
                f"base_url {base_url!r} is the address of a vLLM server: add -M engine=vllm "
                "(the hf engine runs in this process)"
            )
        self._server: Any = None
        if base_url:
            from steering.engines.vllm_server import VllmServer

            self._server = VllmServer(base_url)  # unreachable: fails here, in seconds, naming the URL
        base_url = f"steered:{args.output_key()}" + (f"@{base_url}" if base_url else "")
        super().__init__(model_name=model_label(model_name), base_url=base_url, api_key=api_key, config=config)
        self.args = args
        check_layer_before_loading(self.args.layer, self.args.model_path or model_name)
        from steering.models import default_device

        # on CUDA the real batch is chosen once the weights are loaded (steering.sizing); until then the
        # worker may collect up to the cap, and generate_in_batches splits what it collected
        automatic = MAX_BATCH_SIZE if (self.args.device or default_device()).startswith("cuda") else CPU_BATCH_SIZE
        self._collect_size = self.args.batch_size or automatic
        self._worker = BatchWorker(self._run, self._collect_size, self.args.batch_wait)
        self._loaded: tuple[Any, Any, Any] | None = None
        self._vllm: Any = None
        """The vLLM side (``-M engine=vllm``): (generator, resolver), made on the first generate."""
        self._vllm_lock = threading.Lock()
        self.sharing = RequestSharing()
        # every run-constant setting, defaults and device resolved: logged with each model call
        self._resolved_args: dict[str, Any] = {**asdict(self.args), "path": self._path}

    # --- loading (worker thread only) ---

    def _load(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            from steering.hooks import decoder_layers
            from steering.models import default_device, default_dtype, load_model, versions
            from steering.sources.resolver import DirectionResolver

            device = self.args.device or default_device()
            dtype = self.args.dtype or default_dtype(device)
            model, tokenizer = load_model(self.args.model_path or self._path, device, dtype, self.args.attn)
            self._resolved_args = {
                **asdict(self.args),
                "path": self._path,
                "device": device,
                "dtype": dtype,
                "attn": model.config._attn_implementation,
                "versions": versions(),
                # the model's own sampling defaults, ignored: generation starts from a neutral configuration
                "generation_defaults_ignored": getattr(model, "steering_generation_defaults", {}),
            }
            check_layer(self.args.layer, len(decoder_layers(model)))
            sae = (
                SaeRef(self.args.sae, release=None)
                if self.args.sae
                else SaeRef(self.args.sae_id, self.args.sae_release)
            )
            source = DirectionResolver(
                model,
                tokenizer,
                self.args.layer,
                sae,
                self.args.contrast,
                sae_ts=self.args.sae_ts,
                model_name=self.args.model_path or self._path,
            )
            self._loaded = (model, tokenizer, source)
        return self._loaded

    # --- the vLLM engine (any thread) ---

    def _vllm_side(self) -> tuple[Any, Any]:
        with self._vllm_lock:
            if self._vllm is None:
                from transformers import AutoConfig

                from steering.engines.vllm_engine import VllmGenerator, shared_engine
                from steering.models import (
                    default_device,
                    default_dtype,
                    hub_generation_defaults,
                    load_model,
                    load_tokenizer,
                    resolve_model_path,
                )
                from steering.sources.resolver import DirectionResolver

                name = self.args.model_path or self._path
                path = resolve_model_path(name)
                device = self.args.device or default_device()
                dtype = self.args.dtype or default_dtype(device)
                engine = self._server or shared_engine(path, dtype, self.args.vllm_settings())
                tokenizer = load_tokenizer(path)
                config = AutoConfig.from_pretrained(path)
                check_layer(self.args.layer, config.get_text_config().num_hidden_layers)
                if self._server is not None:
                    opener = Request([{"role": "user", "content": "The"}], chat=False)
                    probe = tokenizer(prompt_text(tokenizer, opener), add_special_tokens=False)
                    self._server.check_steers(probe.input_ids, self.args.layer, config.get_text_config().hidden_size)
                sae = (
                    SaeRef(self.args.sae, release=None)
                    if self.args.sae
                    else SaeRef(self.args.sae_id, self.args.sae_release)
                )
                resolver = DirectionResolver(
                    # vectors that need activations (differences of means) are built on the HF model, so a
                    # direction is the same vector on both engines; it loads only when one is asked for
                    lambda: load_model(name, device, dtype, self.args.attn)[0],
                    tokenizer,
                    self.args.layer,
                    sae,
                    self.args.contrast,
                    sae_ts=self.args.sae_ts,
                    model_name=name,
                    hidden_size=config.get_text_config().hidden_size,
                )
                generator = VllmGenerator(engine, tokenizer, self.args.layer, self.args.positions)
                description = engine.wait_ready()
                self._resolved_args = {
                    **asdict(self.args),
                    "path": self._path,
                    "engine": description,
                    "versions": {**versions(), "vllm": description["version"]},
                    "generation_defaults_ignored": hub_generation_defaults(path),
                }
                self._vllm = (generator, resolver)
            return self._vllm

    def _vllm_submit(self, item: _Pending, params: GenerationParams) -> Future:
        """A future of the HF path's result tuple; steering is resolved on a helper thread (an SAE may load)."""
        outer: Future = Future()

        def start() -> None:
            try:
                generator, resolver = self._vllm_side()
                rows = None
                if item.spec is not None:
                    (direction,) = resolver.resolve([item.spec])
                    rows = RowSteering(direction, float(item.spec.alpha), item.spec.method)
                request = Request(item.messages, rows, item.seed, chat=self.args.chat_template)
                inner = generator.submit(request, params, score_unsteered=self.args.fluency_proxy)
            except Exception as error:
                _complete(outer, error=error)
                return

            def done(future: Future) -> None:
                if future.exception() is not None:
                    _complete(outer, error=future.exception())
                    return
                generation, elapsed = future.result()
                SteeredModelAPI.generated_total += 1
                size = self.args.vllm_settings().max_num_seqs if self._server is None else generation.batch_rows
                _complete(outer, result=(generation, elapsed, generation.batch_rows, size))

            inner.add_done_callback(done)

        _RESOLVE.submit(start)
        return outer

    # --- one batch (worker thread only) ---

    def _run(self, params: Hashable, jobs: list[Job], interrupt: threading.Event) -> None:
        """Generate one batch; every job is completed here, each with its own result or error."""
        assert isinstance(params, GenerationParams)
        model, tokenizer, source = self._load()
        with model_lock(model):
            try:
                source.prefetch([job.payload.spec for job in jobs if job.payload.spec is not None])
            except Exception as error:
                for job in jobs:
                    job.fail(error)
                return
            requests, ready = [], []
            for job in jobs:
                item: _Pending = job.payload
                try:
                    rows = None
                    if item.spec is not None:
                        (direction,) = source.resolve([item.spec])
                        rows = RowSteering(direction, float(item.spec.alpha), item.spec.method)
                except Exception as error:  # a bad feature fails its own sample, not the batch
                    job.fail(error)
                    continue
                requests.append(Request(item.messages, rows, item.seed, chat=self.args.chat_template))
                ready.append(job)
            if not ready:
                return
            batch_size = self.args.batch_size or choose_batch_size(model, params.max_new_tokens)
            self._worker.batch_size = batch_size
            started = time.monotonic()
            outputs = generate_in_batches(
                model,
                tokenizer,
                requests,
                params,
                self.args.layer,
                batch_size,
                self.args.positions,
                score_unsteered=self.args.fluency_proxy,
                interrupt=interrupt,
                compile=self.args.compile,
            )
        elapsed = time.monotonic() - started
        for job, output in zip(ready, outputs):
            spec = job.payload.spec
            if output.error is not None:
                feature = "" if spec is None or spec.feature is None else f", feature={spec.feature}"
                vector = "" if spec is None else f", vector={spec.vector}"
                job.fail(RuntimeError(f"{output.error}{feature}{vector}"))
            else:
                SteeredModelAPI.generated_total += 1
                job.succeed((output, elapsed, output.batch_rows, batch_size))

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
        # a per-sample spec (our solver's) wins over the model-level one (-M alpha=...), which any task gets
        spec = spec_from_extra_body(config.extra_body) or self.args.steering
        messages = instructed([{"role": m.role, "content": m.text} for m in input], self.args.instruction)
        params = GenerationParams(
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k,
            stop_seqs=tuple(config.stop_seqs or ()),
        )
        epoch = _epoch()
        seed = prompt_seed(config.seed, messages, epoch)
        request = {
            "model": self.model_name,
            "messages": messages,
            "steering": spec.to_dict() if spec else None,
            "generation": {**asdict(params), "seed": config.seed, "epoch": epoch, "row_seed": seed},
        }
        # the prompt's length in characters groups similar prompts into one batch (less padding)
        size = sum(len(m["content"]) for m in messages)
        key = share_key(messages, spec, params, seed) if self.args.share else None
        SteeredModelAPI.in_flight += 1
        SteeredModelAPI.peak_in_flight = max(SteeredModelAPI.peak_in_flight, SteeredModelAPI.in_flight)
        try:
            # an identical request joins the one queued, generating or just done; cancelling the last
            # caller of a queued one skips it, and a late result is kept for a retry (steering.provider.sharing)
            pending = _Pending(messages, spec, seed)
            submit = (
                (lambda: self._vllm_submit(pending, params))
                if self.args.engine == "vllm"
                else (lambda: self._worker.submit(pending, key=params, size=size))
            )
            (output, elapsed, batch_rows, batch_size), shared = await self.sharing.result(key, submit)
        finally:
            SteeredModelAPI.in_flight -= 1
        request["provider"] = self._resolved_args
        response = {**self._response(output), "batch_rows": batch_rows, "batch_size": batch_size, "shared": shared}
        result = self._model_output(output, params, spec, elapsed)
        result.metadata = {**(result.metadata or {}), "shared": shared}
        return result, ModelCall.create(request=request, response=response, time=elapsed)

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
        if self.args.engine == "vllm":
            return 2 * self.args.vllm_settings().max_num_seqs
        # samples in flight: one batch generating, one queued, and room for samples waiting on their
        # judges, so judge latency cannot empty the generation queue (benchmarks/sweep.py). Inspect uses
        # this only when adaptive concurrency is off, which the sweep tasks do for the steered model.
        return 4 * self._collect_size

    def collapse_user_messages(self) -> bool:
        return True
