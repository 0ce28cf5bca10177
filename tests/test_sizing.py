"""The CUDA batch-size rule, checked by hand on gemma-2-2b's shape (no GPU needed)."""

from __future__ import annotations

import pytest
from transformers import Gemma2Config

from steering.sizing import (
    CPU_BATCH_SIZE,
    HEADROOM,
    LOGIT_COPIES,
    MAX_BATCH_SIZE,
    ModelShape,
    bytes_per_row,
    choose_batch_size,
    cuda_batch_size,
)

GIB = 2**30
GEMMA_2B = ModelShape.from_config(Gemma2Config())


def test_the_shape_is_read_from_the_config():
    assert GEMMA_2B == ModelShape(layers=26, kv_heads=4, head_dim=256, hidden=2304, intermediate=9216, vocab=256000)


def test_bytes_per_row_by_hand():
    # 128 prompt + 64 new positions of bf16 K and V over 26 layers x 4 heads x 256 dims
    kv = 2 * 26 * 4 * 256 * (128 + 64) * 2
    logits = LOGIT_COPIES * 256000 * 4
    prefill = 128 * (3 * 9216 + 4 * 2304) * 2
    assert bytes_per_row(GEMMA_2B, 128, 64, 2) == kv + logits + prefill == 40_124_416


def test_a_large_gpu_is_capped_and_a_small_one_gets_what_fits():
    assert cuda_batch_size(120 * GIB, GEMMA_2B, 128, 64, 2) == MAX_BATCH_SIZE
    fits = int(4 * GIB * HEADROOM) // 40_124_416  # 85 rows fit in 4 GiB free
    assert fits == 85
    assert cuda_batch_size(4 * GIB, GEMMA_2B, 128, 64, 2) == 80  # rounded down to a multiple of 8
    # longer replies need more KV cache: fewer rows
    assert cuda_batch_size(4 * GIB, GEMMA_2B, 128, 512, 2) < 80
    assert cuda_batch_size(40 * 2**20, GEMMA_2B, 128, 64, 2) == 1  # less than one row's worth still runs one


def test_no_free_memory_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="no free device memory"):
        cuda_batch_size(0, GEMMA_2B, 128, 64, 2)


def test_cpu_models_keep_the_cpu_batch(tiny):
    assert choose_batch_size(tiny[0], max_tokens=64) == CPU_BATCH_SIZE
