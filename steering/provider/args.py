"""The steered/ provider's run-constant settings (``-M key=value``), all checked before any weights load."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steering.defaults import DEFAULT_LAYER, DEFAULT_POSITIONS, DEFAULT_SAE_ID, DEFAULT_SAE_RELEASE
from steering.hooks import check_positions
from steering.layers import check_layer
from steering.sae_directory import (
    check_feature_width,
    check_sae_release,
    ids_for_layer,
    pretrained_directory,
    release_hint,
)
from steering.sources import get_source
from steering.sources.registry import is_weighted
from steering.spec import SteeringSpec, parse_targets

if TYPE_CHECKING:
    from steering.engines.vllm_engine import VllmSettings


@dataclass(frozen=True)
class ProviderArgs:
    """What is constant for a run (``-M key=value``); all of it lands in the eval log's model_args."""

    layer: int = DEFAULT_LAYER
    sae_release: str = DEFAULT_SAE_RELEASE
    sae_id: str = DEFAULT_SAE_ID
    sae: str | None = None
    """A local SAE folder (sae-lens ``save_model`` layout); overrides sae_release/sae_id."""
    contrast: str = "french_english"
    sae_ts: str | None = None
    """A fitted SAE-TS approximator (.safetensors); default: the one `python -m steering.sae_ts fit` saves."""
    device: str | None = None
    dtype: str | None = None
    attn: str | None = None
    """Attention kernel (eager, sdpa, flash_attention_2, ...); None: eager where the model softcaps attention
    logits (Gemma 2), else sdpa. The kernel that ran is logged with every call."""
    batch_size: int | None = None
    """Rows per generation batch; None: 16 on CPU/MPS, on CUDA the most that fit in free memory
    (``steering.sizing``), re-chosen per batch from its max_tokens."""
    batch_wait: float = 0.05
    """Seconds the worker waits for more requests before it runs a partial batch."""
    positions: str = DEFAULT_POSITIONS
    model_path: str | None = None
    fluency_proxy: bool = True
    """Score each reply's mean log-probability under the unsteered model (one extra forward pass)."""
    compile: bool = False
    """Static KV cache and ``torch.compile``d decoder layers: the same tokens, fewer launches per step."""
    chat_template: bool = True
    """Format prompts with the tokenizer's chat template; false: BOS + the raw prompt, as SAE-TS ran base models."""
    instruction: str | None = None
    """The prompting reference for any task: every request's first user turn gets this instruction, appended
    (a chat model asked in words) or as a ``{prompt}`` template (a cue a base model continues)."""
    share: bool = True
    """Identical requests in flight (or just done) share one generation; false: each generates (benchmarks)."""
    alpha: float | None = None
    """Model-level steering: every request without a per-sample spec is steered by these arguments, so any
    Inspect task runs steered unchanged. None: unsteered (a per-sample spec from our solver always wins)."""
    method: str = "add"
    feature: int | str | None = None
    """An SAE feature id, or weighted targets ``8392:0.5,15769:0.5``, for model-level steering."""
    vector: str = "sae"
    normalize: bool = False
    engine: str = "hf"
    """What generates: ``hf`` (transformers' generate, the exact reference) or ``vllm`` (steering inside vLLM)."""
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    kv_cache_memory: float | None = None
    """vLLM only: GiB for the KV cache (default 1 on CPU, vLLM's share of GPU memory on a GPU)."""
    max_model_len: int | None = None
    """vLLM only: the longest prompt plus reply in tokens (default 1024)."""
    enforce_eager: bool = True
    max_num_seqs: int | None = None
    """vLLM only: requests in one running batch (default 256)."""
    max_num_batched_tokens: int | None = None
    """vLLM only: tokens per forward pass, so also the prefill chunk (default: vLLM's)."""
    chunked_prefill: bool | None = None
    """vLLM only: split long prefills over passes (default: on a GPU; off on CPU, where seeded sampling cannot
    rewind the token a partial prefill draws)."""

    def vllm_settings(self) -> VllmSettings:
        from steering.engines.vllm_engine import VllmSettings

        given = {name: getattr(self, name) for name in VLLM_ONLY if getattr(self, name) is not None}
        return VllmSettings(**given)

    def output_key(self) -> str:
        """A short hash of every argument that can change a reply (not batching, waiting or sharing)."""
        operational = {"batch_size", "batch_wait", "share"}
        defaults = {name: getattr(ProviderArgs, name) for name in ("engine", *VLLM_ONLY)}
        # the engine's settings enter the key only when set: earlier runs' cached replies keep their scope
        settings = {
            k: v for k, v in asdict(self).items() if k not in operational and not (k in defaults and v == defaults[k])
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @cached_property
    def steering(self) -> SteeringSpec | None:
        """The model-level steering spec (None without ``alpha``), checked like a per-sample one."""
        if self.alpha is None:
            given = {k: getattr(self, k) for k in ("method", "feature", "vector", "normalize")}
            changed = sorted(k for k, v in given.items() if v != getattr(ProviderArgs, k))
            if changed:
                raise ValueError(f"model-level steering {changed} needs an alpha (-M alpha=...)")
            return None
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float):
            raise ValueError(f"alpha must be a number, got {self.alpha!r}")
        weighted = is_weighted(self.feature)
        get_source(self.vector).check(self.vector)
        return SteeringSpec(
            alpha=float(self.alpha),
            method=self.method,
            feature=None if weighted else self.feature,
            vector=self.vector,
            normalize=self.normalize,
            targets=parse_targets(self.feature) if weighted else None,
        )

    @classmethod
    def parse(cls, model_args: dict[str, Any]) -> ProviderArgs:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(model_args) - known)
        if unknown:
            raise ValueError(f"unknown model args {unknown} for steered/: valid are {sorted(known)}")
        # Inspect reads `-M sae=` as None: an empty value would silently mean the default (the Gemma Scope SAE)
        empty = sorted(k for k, v in model_args.items() if v is None or (isinstance(v, str) and not v.strip()))
        if empty:
            raise ValueError(f"-M {empty[0]}= is empty: give a value, or leave -M {empty[0]} out for its default")
        release = model_args.get("sae_release")
        directory = pretrained_directory()
        if release is not None and "sae_id" not in model_args and "sae" not in model_args and release in directory:
            raise ValueError(
                f"-M sae_release={model_args['sae_release']} needs -M sae_id (the default id is Gemma Scope's "
                f"layer 20): {ids_for_layer(str(model_args['sae_release']), model_args.get('layer', cls.layer))}"
            )
        args = cls(**model_args)
        if not isinstance(args.layer, int) or isinstance(args.layer, bool) or args.layer < 0:
            raise ValueError(f"layer must be a non-negative integer, got {args.layer!r}")
        size = args.batch_size
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ValueError(f"batch_size must be a positive integer (or left out for automatic), got {size!r}")
        wait = args.batch_wait
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait) or not 0 <= wait < 60:
            raise ValueError(f"batch_wait must be a number of seconds in [0, 60), got {wait!r}")
        check_positions(args.positions)
        _check_engine(args)
        if args.attn is not None and (not isinstance(args.attn, str) or not args.attn):
            raise ValueError(f"attn must name an attention implementation (eager, sdpa, ...), got {args.attn!r}")
        if args.dtype not in (None, "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype {args.dtype!r} is not one of float32, bfloat16, float16")
        for name in ("fluency_proxy", "compile", "chat_template", "normalize", "share"):
            if not isinstance(getattr(args, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(args, name)!r}")
        text = args.instruction
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise ValueError(f"instruction must be non-empty text (words, or a {{prompt}} template), got {text!r}")
        for name in ("sae_release", "sae_id", "contrast"):
            if not isinstance(getattr(args, name), str) or not getattr(args, name):
                raise ValueError(f"{name} must be a non-empty string, got {getattr(args, name)!r}")
        if args.sae is None:
            check_sae_release(args.sae_release, args.sae_id)
        elif not Path(str(args.sae)).is_dir():
            raise ValueError(
                f"SAE folder {args.sae!r} does not exist (-M sae= takes a folder written by save_model)"
                + release_hint(str(args.sae))
            )
        if args.sae_ts is not None and not Path(str(args.sae_ts)).is_file():
            raise ValueError(
                f"SAE-TS approximator {args.sae_ts!r} does not exist (fit one: python -m steering.sae_ts fit)"
            )
        if args.model_path is not None and not Path(str(args.model_path)).exists():
            raise ValueError(f"model_path {args.model_path!r} does not exist")
        _check_device(args.device)
        spec = args.steering  # checked here, before any weights load
        if spec is not None and get_source(spec.vector).takes_feature:
            for feature in [spec.feature] if spec.targets is None else [t[0] for t in spec.targets]:
                if feature is not None:
                    check_feature_width(int(feature), model_args)
        from steering.sources import load_contrast

        load_contrast(args.contrast)
        return args


VLLM_ONLY = (
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "kv_cache_memory",
    "max_model_len",
    "enforce_eager",
    "max_num_seqs",
    "max_num_batched_tokens",
    "chunked_prefill",
)
ENGINES = ("hf", "vllm")


def _check_engine(args: ProviderArgs) -> None:
    if args.engine not in ENGINES:
        raise ValueError(f"unknown engine {args.engine!r}: use one of {list(ENGINES)}")
    if args.engine == "hf":
        changed = [name for name in VLLM_ONLY if getattr(args, name) != getattr(ProviderArgs, name)]
        if changed:
            raise ValueError(f"{changed} are vLLM engine settings: add -M engine=vllm (or drop them)")
        return
    if args.compile:
        raise ValueError("compile=true is an HF engine setting: vLLM runs its own kernels (drop -M compile)")
    if args.batch_size is not None:
        raise ValueError(
            f"batch_size={args.batch_size} is an HF engine setting: vLLM batches every request in flight "
            "(its limit is -M max_num_seqs)"
        )
    if args.device not in (None, "cpu", "cuda"):
        raise ValueError(
            f"-M device={args.device} is an HF engine setting: vLLM places the model itself "
            "(tensor_parallel_size / pipeline_parallel_size spread it over cards)"
        )
    args.vllm_settings().check()
    from steering.engines.vllm_engine import check_vllm_installed

    check_vllm_installed()


def _check_device(device: str | None) -> None:
    if device is None:
        return
    if device == "auto":  # accelerate's big-model placement: layers spread over every GPU (then CPU)
        return
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be cpu, cuda, cuda:N, mps or auto, got {device!r}")
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"no CUDA device is visible: drop -M device={device} (or run on a GPU machine)")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("no MPS device is available: drop -M device=mps")


def looks_like_folder(model: str) -> bool:
    """A local path rather than a hub id (``org/name``): absolute, relative (``./``, ``../``, ``~``) or deeper."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1


def check_layer_before_loading(layer: int, model: str) -> None:
    """Check the layer against the model's config.json when it is at hand, before any weights load."""
    from steering.models import EMBEDDED_MODELS, cache_dir

    folder = cache_dir() / model if model in EMBEDDED_MODELS else Path(model)
    if model not in EMBEDDED_MODELS and looks_like_folder(model) and not folder.is_dir():
        raise ValueError(
            f"model folder {model!r} does not exist (a hub model is named org/name, e.g. google/gemma-2-2b-it)"
        )
    config = folder / "config.json"
    if config.is_file():
        data = json.loads(config.read_text())
        layers = data.get("num_hidden_layers") or data.get("text_config", {}).get("num_hidden_layers")
        if isinstance(layers, int):
            check_layer(layer, layers)
