"""What a candidate direction does: steer, sample, encode the unsteered model's activations with the SAE."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from steering.directions import content_positions
from steering.generation import (
    GenerationParams,
    Request,
    generate_in_batches,
    is_out_of_memory,
    left_padded_positions,
    prompt_text,
)
from steering.hooks import RowSteering, recording
from steering.sae_ts.config import (
    CANDIDATES_PER_DIMENSION,
    REFERENCE_GRID,
    SAMPLING,
    SEQUENCE_TOKENS,
    MeasureConfig,
    measurement_texts,
)
from steering.sae_ts.scale import corpus_chunks, grid_scale, loss_matched_scale, reference_loss
from steering.sizing import choose_batch_size

logger = logging.getLogger(__name__)


ENCODE_CHUNK = 4096
"""Reply tokens per SAE encode: a 131k-wide SAE's activations for 512 x 32 tokens would take 8 GB at once."""


@torch.no_grad()
def feature_activations(
    model: Any,
    tokenizer: Any,
    sae: Any,
    layer: int,
    requests: list[Request],
    replies: list[list[int]],
    batch_size: int = 64,
) -> Tensor:
    """Mean SAE activations over every reply token of every row, read from layer L of the unsteered model.

    The authors average over all 32 positions, BOS and prompt included; those positions are the same
    text with and without steering, so here only the reply tokens count (the effect is not diluted).
    Only the decoder runs (no logits over the vocabulary), the SAE encodes in chunks, and a batch that
    runs out of memory is halved and retried, as generation does.
    """
    total = torch.zeros(sae.cfg.d_sae, dtype=torch.float64)
    count, start = 0, 0
    while start < len(requests):
        chunk = list(zip(requests[start : start + batch_size], replies[start : start + batch_size]))
        try:
            sums, n = _encode_rows(model, tokenizer, sae, layer, chunk)
        except Exception as error:
            if not is_out_of_memory(error) or batch_size == 1:
                raise
            batch_size //= 2
            logger.warning("out of memory while encoding: %d rows per batch", batch_size)
            continue
        total += sums
        count += n
        start += len(chunk)
    return (total / max(count, 1)).float()


def _encode_rows(model: Any, tokenizer: Any, sae: Any, layer: int, rows: list) -> tuple[Tensor, int]:
    """Summed SAE activations of the reply tokens of some (request, reply) rows, and how many there were."""
    pairs = [
        (tokenizer(prompt_text(tokenizer, request), add_special_tokens=False)["input_ids"], reply)
        for request, reply in rows
    ]
    length = max(len(p) + len(r) for p, r in pairs)
    ids = torch.full((len(pairs), length), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    reply_mask = torch.zeros_like(ids, dtype=torch.bool)
    for i, (prefix, reply) in enumerate(pairs):
        sequence = prefix + reply
        ids[i, length - len(sequence) :] = torch.tensor(sequence)
        mask[i, length - len(sequence) :] = 1
        reply_mask[i, length - len(reply) :] = len(reply) > 0
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    with recording(model, layer) as seen:
        decoder(
            input_ids=ids.to(model.device),
            attention_mask=mask.to(model.device),
            position_ids=left_padded_positions(mask).to(model.device),
            use_cache=False,
        )
    hidden = seen[0][reply_mask.to(seen[0].device)]
    sums = torch.zeros(sae.cfg.d_sae, dtype=torch.float64)
    for part in hidden.split(ENCODE_CHUNK):
        sums += sae.encode(part.to(sae.W_dec.dtype)).double().sum(dim=0).cpu()
    return sums, len(hidden)


class EffectMeter:
    """Measures candidate directions against one model, SAE and layer, with fixed prompts and seeds."""

    def __init__(self, model: Any, tokenizer: Any, sae: Any, config: MeasureConfig):
        self.model, self.tokenizer, self.sae, self.config = model, tokenizer, sae, config
        self.prompts, self.chat, reference = measurement_texts(config.prompt_set)
        self.reference = tokenizer(reference, return_tensors="pt", padding=True).to(model.device)
        self.base_loss = reference_loss(model, self.reference, config.layer, None, 0.0)
        self.params = [self._params_for(prompt) for prompt in self.prompts]
        longest = max(p.max_new_tokens for p in self.params)
        automatic = choose_batch_size(model, longest) if model.device.type == "cuda" else 64
        self.batch_size = config.batch_size or automatic
        self.baseline = self._activations(None, config.baseline_samples_per_prompt)
        self.max_scale = 4 * self._mean_token_norm()
        if config.scale_rule == "reference":
            chunks = corpus_chunks(tokenizer, config.corpus, config.corpus_chunks, kind=config.loss_chunks)
            self.corpus = {k: v.to(model.device) for k, v in chunks.items()}

    def _mean_token_norm(self) -> float:
        with torch.no_grad(), recording(self.model, self.config.layer) as seen:
            self.model(**self.reference)
        return float(seen[0][content_positions(self.reference["attention_mask"])].float().norm(dim=-1).mean())

    def _params_for(self, prompt: str) -> GenerationParams:
        new = self.config.max_new_tokens
        if new is None:
            request = Request([{"role": "user", "content": prompt}], chat=self.chat)
            used = len(self.tokenizer(prompt_text(self.tokenizer, request), add_special_tokens=False)["input_ids"])
            new = SEQUENCE_TOKENS - used if not self.chat else SEQUENCE_TOKENS
            if new < 1:
                raise ValueError(f"measurement prompt {prompt!r} is {used} tokens: no room in {SEQUENCE_TOKENS}")
        return GenerationParams(max_new_tokens=new, **SAMPLING[self.config.sampling])

    def _activations(self, steering: RowSteering | None, samples_per_prompt: int | None = None) -> Tensor:
        """Mean activations over ``samples_per_prompt`` continuations of every prompt (seed + i + 100003 j:
        sample j of prompt i has the same seed for every candidate and the baseline)."""
        samples = samples_per_prompt or self.config.samples_per_prompt
        requests, budgets = [], []
        for i, (prompt, params) in enumerate(zip(self.prompts, self.params)):
            for j in range(samples):
                seed = self.config.seed + i + 100003 * j
                requests.append(Request([{"role": "user", "content": prompt}], steering, seed, self.chat))
                budgets.append(params.max_new_tokens)
        # one pass for every prompt, in full batches: a row's text depends only on its own seed and prefix,
        # so cutting it at its own budget (32 tokens in all) equals generating it with that budget
        longest = max(self.params, key=lambda p: p.max_new_tokens)
        generations = generate_in_batches(
            self.model, self.tokenizer, requests, longest, self.config.layer, self.batch_size
        )
        replies = [g.token_ids[:budget] for g, budget in zip(generations, budgets)]
        return feature_activations(
            self.model, self.tokenizer, self.sae, self.config.layer, requests, replies, self.batch_size
        )

    def scale_for(self, unit: Tensor) -> float:
        if self.config.scale_rule == "reference":
            layer = self.config.layer
            return grid_scale(
                lambda scale: reference_loss(self.model, self.corpus, layer, unit, scale),
                REFERENCE_GRID,
                self.config.target_loss,
            )
        return loss_matched_scale(
            self.model,
            self.reference,
            self.config.layer,
            unit,
            self.base_loss,
            self.config.loss_increase,
            self.max_scale,
        )

    def effect(self, unit: Tensor, scale: float | None = None) -> tuple[Tensor, float]:
        """(effect on every SAE feature, scale used) for one unit direction."""
        scale = self.scale_for(unit) if scale is None else scale
        return self._activations(RowSteering(unit, scale)) - self.baseline, scale


def candidate_directions(sae: Any, config: MeasureConfig) -> tuple[Tensor, list[str]]:
    """Unit decoder rows of a random subset of features, then random unit vectors."""
    generator = torch.Generator().manual_seed(config.seed)
    d_sae, d_in = sae.W_dec.shape
    n_features = min(d_sae, CANDIDATES_PER_DIMENSION * d_in) if config.n_features is None else config.n_features
    features = torch.randperm(d_sae, generator=generator)[:n_features]
    rows = sae.W_dec[features].detach().float().cpu()
    randoms = torch.randn(config.n_random, d_in, generator=generator)
    directions = torch.cat([rows, randoms])
    labels = [f"feature:{int(f)}" for f in features] + [f"random:{i}" for i in range(config.n_random)]
    return directions / directions.norm(dim=1, keepdim=True), labels


def measure_effects(meter: EffectMeter, directions: Tensor, checkpoint: Path | None = None) -> tuple[Tensor, Tensor]:
    """(effects (n, d_sae), scales (n,)), resuming from ``checkpoint`` and saving to it as it goes."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    from tqdm.auto import tqdm

    effects: list[Tensor] = []
    scales: list[float] = []
    settings = json.dumps(meter.config.__dict__, sort_keys=True)
    if checkpoint is not None and checkpoint.exists():
        with safe_open(str(checkpoint), framework="pt") as f:
            saved_settings = (f.metadata() or {}).get("config")
        saved = load_file(str(checkpoint))
        # effects measured with other settings or candidates are never mixed in, nor silently overwritten
        if saved_settings != settings or not torch.equal(saved["directions"], directions[: len(saved["directions"])]):
            raise ValueError(
                f"{checkpoint} holds {len(saved['directions'])} effects measured with other settings or candidates "
                f"({saved_settings} there, {settings} now): move it away to start over, or pass another --out"
            )
        effects, scales = list(saved["effects"]), saved["scales"].tolist()
    for i in tqdm(
        range(len(effects), len(directions)), desc="measuring effects", initial=len(effects), total=len(directions)
    ):
        effect, scale = meter.effect(directions[i].to(meter.model.device))
        effects.append(effect)
        scales.append(scale)
        if checkpoint is not None and (i % 16 == 15 or i == len(directions) - 1):
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            save_file(
                {
                    "directions": directions[: len(effects)].contiguous(),
                    "effects": torch.stack(effects),
                    "scales": torch.tensor(scales),
                },
                str(checkpoint),
                metadata={"config": settings},
            )
    return torch.stack(effects), torch.tensor(scales)
