"""Per-row seeded sampling: a row's text depends on its own seed and prefix, never on its batch mates."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

if TYPE_CHECKING:
    from steering.generation import GenerationParams


class PerRowSampler(LogitsProcessor):
    """Samples each row with its own seeded generator, so a row's text does not depend on its batch mates.

    transformers samples the whole batch from one global RNG stream; here every row
    draws from ``torch.Generator(device).manual_seed(seed)`` and the chosen token is handed
    back as the only finite logit, so ``generate`` then runs in greedy mode. The draw stays
    on the logits' device: copying a batch of vocabulary-sized rows to the CPU every step
    would cost more than the step (a seed gives different text on CPU and CUDA).
    """

    def __init__(self, seeds: Sequence[int | None], params: GenerationParams, device: torch.device | str = "cpu"):
        self.generators = []
        for seed in seeds:
            generator = torch.Generator(device=device)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(int(seed))
            self.generators.append(generator)
        self.warpers = self.warpers_for(params)

    @staticmethod
    def warpers_for(params: GenerationParams) -> LogitsProcessorList:
        warpers = LogitsProcessorList([TemperatureLogitsWarper(params.temperature)])
        if params.top_k:
            warpers.append(TopKLogitsWarper(params.top_k))
        if params.top_p is not None and params.top_p < 1.0:
            warpers.append(TopPLogitsWarper(params.top_p))
        return warpers

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(self.warpers(input_ids, scores).float(), dim=-1).to(self.generators[0].device)
        chosen = torch.stack([torch.multinomial(row, 1, generator=g) for row, g in zip(probs, self.generators)]).to(
            scores.device
        )
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(1, chosen, 0.0)


_M32 = 0xFFFFFFFF


def prompt_seed(seed: int | None, messages: Sequence[dict[str, str]], epoch: int = 1) -> int | None:
    """A row's sampling seed: the run's seed mixed with its prompt and epoch.

    Rows of one prompt and epoch share their noise at every alpha and method (the pairing the curves rely
    on); different prompts, and the epochs of one prompt, draw independent noise, so ``--epochs 2`` draws
    each reply again instead of copying it. With one seed for every row, near-identical prompts sampled
    the same noise and gave the same text. Epoch 1 keeps the seed it had before epochs entered it.
    """
    if seed is None:
        return None
    turns = [[m["role"], m["content"]] for m in messages]
    text = json.dumps([int(seed), turns] if epoch == 1 else [int(seed), int(epoch), turns], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """(x * c) mod 2**32 for x < 2**32 without int64 overflow (split into 16-bit halves)."""
    return ((((x >> 16) * c) & 0xFFFF) << 16) + (x & 0xFFFF) * c & _M32


def _hash32(x: Tensor) -> Tensor:
    """Chris Wellons' lowbias32 integer hash, on int64 tensors holding 32-bit values."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def seeded_uniform(seeds: Tensor, step: int, width: int) -> Tensor:
    """(rows, width) uniforms in (0, 1), a pure function of (row seed, step, column): no RNG state at all."""
    column = torch.arange(width, device=seeds.device, dtype=torch.int64)
    key = _hash32((seeds * 0x9E3779B1 & _M32) ^ (step * 0x85EBCA77 & _M32))
    bits = _hash32((key[:, None] + column[None, :] * 0x27D4EB2F) & _M32)
    return ((bits >> 8).double() + 0.5) / 2**24


class BatchedSeededSampler(LogitsProcessor):
    """Per-row seeded sampling for a whole batch in a few kernels (used on accelerators).

    Gumbel-max: the token with the largest ``logit / T + Gumbel noise`` is an exact draw from
    softmax(logits / T) after the warpers. The noise of row i at step t is a hash of (seed_i, t,
    token id), so a row's text depends only on its own seed and prefix, never on its batch mates,
    as with ``PerRowSampler`` -- whose one multinomial launch per row per step cost three times the
    model's own step on a 512-row batch (benchmarks/results/seed-sweep-cuda.json).
    """

    def __init__(self, seeds: Sequence[int | None], params: GenerationParams, device: torch.device | str = "cpu"):
        values = [secrets.randbits(31) if seed is None else int(seed) & _M32 for seed in seeds]
        self.seeds = torch.tensor(values, dtype=torch.int64, device=device)
        self.step = 0
        self.warpers = PerRowSampler.warpers_for(params)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = self.warpers(input_ids, scores).float()
        uniform = seeded_uniform(self.seeds.to(logits.device), self.step, logits.shape[-1])
        self.step += 1
        gumbel = -torch.log(-torch.log(uniform)).float()
        chosen = (logits + gumbel).argmax(dim=-1, keepdim=True)
        return torch.full_like(scores, float("-inf")).scatter(1, chosen, 0.0)
