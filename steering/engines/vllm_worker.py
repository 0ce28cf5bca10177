"""Steering inside vLLM's workers: hooks on every decoder layer, each token row steered by its own request.

Installed by the ``vllm.general_plugins`` entry point (``register``) in every vLLM process, so a plain
``vllm serve`` of a machine with this package installed steers; the in-process engine installs it the same way.
A request's steering travels in ``SamplingParams.extra_args["steering"]`` (``steering.engines.wire``); the
runner's request order (``input_batch.req_ids``) and the attention metadata's ``query_start_loc`` map each
row of the flat token batch to its request, so one batch mixes alphas, methods, vectors and layers.
vLLM's decoder layers return ``(hidden, residual)`` whose sum is the residual stream; the methods act on
that sum (``steering.methods``, the same functions the HF engine runs), and a steered row is handed on as
``(steered, 0)``. Positions are the absolute ones vLLM passes the model, so prefill chunks change nothing.
This module imports only torch and numpy at load: vLLM loads it in every process.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from steering.engines.wire import EXTRA_ARGS_KEY, WireSteering, decode

logger = logging.getLogger(__name__)


@dataclass
class _Group:
    method: str
    rows: Tensor
    """Token rows of this forward pass steered by this method at this layer."""
    directions: Tensor
    """(rows, D) float32."""
    alphas: Tensor
    """(rows, 1) float32."""


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a vLLM model (text models and the language model of multimodal ones)."""
    for path in ("model.layers", "language_model.model.layers", "model.language_model.layers"):
        module: Any = model
        for name in path.split("."):
            module = getattr(module, name, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return module
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__} for steering")


class RunnerSteering:
    """The steering state of one model runner: decoded specs and this forward pass's plan."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self._decoded: OrderedDict[str, WireSteering] = OrderedDict()
        self._plan: dict[int, list[_Group]] = {}
        self.steered_rows = 0
        """Token rows steered so far (tests read it)."""

    def _spec(self, text: str, device: torch.device) -> WireSteering:
        spec = self._decoded.get(text)
        if spec is None:
            spec = decode(text)
            spec = WireSteering(spec.layer, spec.alpha, spec.method, spec.direction.to(device), spec.positions)
            self._decoded[text] = spec
            while len(self._decoded) > 4096:
                self._decoded.popitem(last=False)
        return spec

    def plan(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook of the whole model: which token rows each layer steers, and how, in this pass."""
        self._plan = {}
        from vllm.forward_context import get_forward_context, is_forward_context_available

        if not is_forward_context_available():
            return
        metadata = get_forward_context().attn_metadata
        if not metadata:
            return  # a profiling or dummy pass
        entries = metadata.values() if isinstance(metadata, dict) else metadata[0].values()
        entry = next((e for e in entries if getattr(e, "query_start_loc", None) is not None), None)
        if entry is None:
            return
        batch = self.runner.input_batch
        starts = entry.query_start_loc.tolist()
        positions = kwargs.get("positions", args[1] if len(args) > 1 else None)
        device = positions.device if isinstance(positions, Tensor) else torch.device("cpu")
        plan: dict[int, dict[str, list[tuple[Tensor, Tensor, float]]]] = {}
        for i, request_id in enumerate(batch.req_ids[: min(batch.num_reqs, len(starts) - 1)]):
            state = self.runner.requests.get(request_id)
            extra = getattr(getattr(state, "sampling_params", None), "extra_args", None) or {}
            text = extra.get(EXTRA_ARGS_KEY)
            if not text:
                continue
            spec = self._spec(text, device)
            rows = torch.arange(starts[i], starts[i + 1], device=device)
            if spec.positions == "generated" and isinstance(positions, Tensor):
                # the last prompt position predicts the first new token, so it is steered too
                rows = rows[positions[rows] >= state.num_prompt_tokens - 1]
            if rows.numel():
                plan.setdefault(spec.layer, {}).setdefault(spec.method, []).append((rows, spec.direction, spec.alpha))
        for layer, methods in plan.items():
            groups = []
            for method, parts in methods.items():
                rows = torch.cat([r for r, _, _ in parts])
                directions = torch.cat([d.float()[None].expand(len(r), -1) for r, d, _ in parts])
                alphas = torch.cat([torch.full((len(r), 1), a, device=device) for r, _, a in parts])
                groups.append(_Group(method, rows, directions, alphas))
            self._plan[layer] = groups

    def layer_hook(self, index: int) -> Any:
        from steering.methods import get_method

        def hook(module: nn.Module, args: tuple, output: Any) -> Any:
            groups = self._plan.get(index)
            if not groups:
                return output
            hidden, residual = output
            stream = hidden + residual  # what the next layer's fused add would form, in the model's dtype
            hidden, residual = hidden.clone(), residual.clone()
            for group in groups:
                work = stream.index_select(0, group.rows).float()
                steered = get_method(group.method)(work, group.directions, group.alphas).to(hidden.dtype)
                hidden.index_copy_(0, group.rows, steered)
                residual.index_fill_(0, group.rows, 0)
                self.steered_rows += len(group.rows)
            return hidden, residual

        return hook


def install(runner: Any) -> RunnerSteering:
    """Hook a loaded runner's model once: a planning pre-hook and one hook per decoder layer on this stage."""
    existing = getattr(runner, "_steering", None)
    if existing is not None:
        return existing
    model = runner.model.get_language_model() if hasattr(runner.model, "get_language_model") else runner.model
    steering = RunnerSteering(runner)
    runner.model.register_forward_pre_hook(steering.plan, with_kwargs=True)
    for index, layer in enumerate(decoder_layers(model)):
        if type(layer).__name__ != "PPMissingLayer":  # another pipeline stage's layer
            layer.register_forward_hook(steering.layer_hook(index))
    runner._steering = steering
    return steering


class SteeringExtension:
    """Methods every vLLM worker gains (``worker_extension_cls``), reached with ``collective_rpc``."""

    model_runner: Any

    def steering_status(self) -> dict[str, Any]:
        """Whether this worker steers, and how many token rows it has steered."""
        steering = getattr(self.model_runner, "_steering", None)
        return {"installed": steering is not None, "steered_rows": steering.steered_rows if steering else 0}

    def steering_capture(self, layer: int) -> None:
        """Record the residual stream leaving ``layer`` (after steering) on every forward pass, until collected."""
        self._steering_seen: list[Tensor] = []
        hooked = decoder_layers(self.model_runner.model)[layer]
        self._steering_handle = hooked.register_forward_hook(
            lambda module, args, out: self._steering_seen.append((out[0] + out[1]).detach().cpu().clone())
        )

    def steering_captured(self) -> list[list[list[float]]]:
        """The recorded streams as nested lists (they cross a process boundary), one (tokens, D) per pass."""
        self._steering_handle.remove()
        seen, self._steering_seen = self._steering_seen, []
        return [stream.float().tolist() for stream in seen]


def _wrap_load_model(cls: type) -> None:
    original = cls.__dict__.get("load_model")
    if original is None or getattr(original, "_steering_wrapped", False):
        return

    def load_model(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        install(self)
        return result

    load_model._steering_wrapped = True  # type: ignore[attr-defined]
    cls.load_model = load_model


def register() -> None:
    """The ``vllm.general_plugins`` entry point: steer every model runner this process loads.

    vLLM calls it in each of its processes (more than once is fine). ``STEERING_VLLM_PLUGIN=0`` turns it off,
    which is how the tests build a server that ignores steering.
    """
    if os.environ.get("STEERING_VLLM_PLUGIN", "1") == "0":
        return
    from vllm.v1.worker.gpu_model_runner import GPUModelRunner

    _wrap_load_model(GPUModelRunner)
    try:
        from vllm.v1.worker.cpu_model_runner import CPUModelRunner
    except ImportError:
        return
    _wrap_load_model(CPUModelRunner)
