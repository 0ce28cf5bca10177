"""How many rows fit in one generation batch on a CUDA device.

A Hugging Face decode step is bound by per-step overhead, not arithmetic: 256 rows cost about
what 16 do on an H100, so a fixed small batch leaves the accelerator idle. The batch is chosen
from the memory actually free once the weights are on the device, the KV cache each row needs
for ``prompt + max_tokens`` positions, and the transient buffers of one step (float32 logits
over the vocabulary, prefill activations). On CPU and MPS the batch stays at ``CPU_BATCH_SIZE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CPU_BATCH_SIZE = 16
MAX_BATCH_SIZE = 512
"""Past this a decode step stops being overhead-bound on a 2B model; more rows only add latency."""
HEADROOM = 0.8
"""Share of the free memory the batch may use: the allocator fragments, and the scoring pass needs room."""
LOGIT_COPIES = 10
"""float32-sized vocabulary buffers alive per row in a decode step: logits, guard, warpers, and the sampler's
int64 hash and float64 uniforms (steering.generation.BatchedSeededSampler)."""


@dataclass(frozen=True)
class ModelShape:
    """What of a decoder's config sets its per-row memory."""

    layers: int
    kv_heads: int
    head_dim: int
    hidden: int
    intermediate: int
    vocab: int

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        config = getattr(config, "text_config", None) or config
        heads = config.num_attention_heads
        return cls(
            layers=config.num_hidden_layers,
            kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
            hidden=config.hidden_size,
            intermediate=config.intermediate_size,
            vocab=config.vocab_size,
        )


def bytes_per_row(shape: ModelShape, prompt_tokens: int, max_tokens: int, dtype_bytes: int) -> int:
    """Peak bytes one batch row adds: its KV cache at full length plus one step's transient buffers."""
    positions = prompt_tokens + max_tokens
    kv_cache = 2 * shape.layers * shape.kv_heads * shape.head_dim * positions * dtype_bytes
    logits = LOGIT_COPIES * shape.vocab * 4
    # prefill holds one layer's MLP activations (gate, up, product) and a few residual-sized tensors
    prefill = prompt_tokens * (3 * shape.intermediate + 4 * shape.hidden) * dtype_bytes
    return kv_cache + logits + prefill


def cuda_batch_size(
    free_bytes: int,
    shape: ModelShape,
    prompt_tokens: int,
    max_tokens: int,
    dtype_bytes: int,
    cap: int = MAX_BATCH_SIZE,
) -> int:
    """The most rows (a multiple of 8 when above 8, at least 1, at most ``cap``) whose peak memory fits
    in ``HEADROOM`` of ``free_bytes``, measured with the weights already loaded."""
    if free_bytes <= 0:
        raise ValueError(f"no free device memory to generate in (free_bytes={free_bytes})")
    rows = int(free_bytes * HEADROOM) // bytes_per_row(shape, prompt_tokens, max_tokens, dtype_bytes)
    rows = min(rows, cap)
    return max(1, rows - rows % 8 if rows > 8 else rows)


def choose_batch_size(model: Any, max_tokens: int, prompt_tokens: int = 128) -> int:
    """The batch for a loaded model: ``cuda_batch_size`` on CUDA, ``CPU_BATCH_SIZE`` elsewhere."""
    import torch

    if model.device.type != "cuda":
        return CPU_BATCH_SIZE
    free, _ = torch.cuda.mem_get_info(model.device)
    # memory PyTorch's allocator holds from the previous batch is free to this one
    free += torch.cuda.memory_reserved(model.device) - torch.cuda.memory_allocated(model.device)
    return cuda_batch_size(free, ModelShape.from_config(model.config), prompt_tokens, max_tokens, model.dtype.itemsize)
