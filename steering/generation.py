"""Batched steered generation with transformers' ``generate``: one batch mixes alphas and methods."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
)

from steering.compiled import compiled_layers
from steering.hooks import Positions, RowSteering, steering_hook
from steering.models import tokenizer_lock
from steering.sampling import BatchedSeededSampler, PerRowSampler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationParams:
    """Settings shared by every row of a batch. ``temperature`` None or 0 means greedy."""

    max_new_tokens: int = 64
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_seqs: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return not self.temperature


@dataclass(frozen=True)
class Request:
    """One row: chat messages (``{"role", "content"}``), its steering and its sampling seed."""

    messages: Sequence[dict[str, str]]
    steering: RowSteering | None = None
    seed: int | None = None
    chat: bool = True
    """Format the messages with the chat template; False: BOS + the raw text (a base model's continuation)."""


@dataclass
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    token_ids: list[int] = field(repr=False)
    stop_reason: str = "stop"
    """"stop" (end of turn or a stop sequence) or "max_tokens"."""
    unsteered_logprob: float | None = None
    """Mean log-probability of the reply's tokens under the unsteered model (None for an empty reply)."""
    error: str | None = None
    """Why this row's text cannot be used (non-finite activations or logits, interrupted); None when it can."""
    batch_rows: int = 1
    """Rows in the forward passes that generated it."""


def fold_system(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Gemma's chat template raises on a system turn: fold system text into the first user turn."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        if rest and rest[0]["role"] == "user":
            rest[0]["content"] = "\n\n".join([*system, rest[0]["content"]])
        else:
            rest.insert(0, {"role": "user", "content": "\n\n".join(system)})
    return rest


def chat_prompt(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    return tokenizer.apply_chat_template(fold_system(messages), tokenize=False, add_generation_prompt=True)


def raw_prompt(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """BOS then the messages' text, no template: what SAE-TS's TransformerLens code fed the base model
    (``to_tokens(prompt, prepend_bos=True)``); an empty prompt is BOS alone."""
    return (tokenizer.bos_token or "") + "\n\n".join(m["content"] for m in messages)


def prompt_text(tokenizer: Any, request: Request) -> str:
    """The text a request's row starts from; it carries its own BOS, so tokenize without special tokens."""
    return chat_prompt(tokenizer, request.messages) if request.chat else raw_prompt(tokenizer, request.messages)


class FiniteGuard(LogitsProcessor):
    """Marks rows whose logits are NaN or +inf and gives them harmless ones, so one row cannot fail its batch.

    No device sync: the marks stay on the device until generation ends.
    """

    def __init__(self, batch: int, device: torch.device):
        self.bad = torch.zeros(batch, dtype=torch.bool, device=device)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        bad = torch.isnan(scores).any(dim=-1) | torch.isposinf(scores).any(dim=-1)
        self.bad |= bad
        return torch.where(bad[:, None], torch.zeros_like(scores), scores)


class ReplyEnd(StoppingCriteria):
    """Records where each row's reply ends (its first end-of-sequence token or completed stop sequence).

    ``generate`` fills finished rows with the pad token; recording the end here means a pad
    token the model itself generates is part of the reply (decoded as text), not its end.
    Setting ``interrupt`` ends every row at the next token (the process is exiting).
    """

    def __init__(
        self,
        prompt_length: int,
        eos_ids: list[int],
        batch: int,
        device: torch.device,
        stop_strings: StopStringCriteria | None = None,
        interrupt: threading.Event | None = None,
    ):
        self.prompt_length, self.stop_strings, self.interrupt = prompt_length, stop_strings, interrupt
        self.eos_ids = torch.tensor(eos_ids, device=device)
        self.end = torch.full((batch,), torch.iinfo(torch.long).max, dtype=torch.long, device=device)
        self.interrupted = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = torch.isin(input_ids[:, -1], self.eos_ids)
        if self.stop_strings is not None:
            done = done | self.stop_strings(input_ids, scores)
        step = input_ids.shape[1] - self.prompt_length
        self.end = torch.where(done & (self.end > step), torch.full_like(self.end, step), self.end)
        if self.interrupt is not None and self.interrupt.is_set():
            self.interrupted = True
            return torch.ones_like(done)
        return done


def _cut_at_stop(text: str, stop_seqs: Sequence[str]) -> str:
    cuts = [text.find(s) for s in stop_seqs if s and s in text]
    return text[: min(cuts)] if cuts else text


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos)


SCORING_LOGITS_BUDGET = 2**28
"""float32 logits the scoring pass holds at once (1 GiB): a 512-row batch over a 256k vocabulary is scored
in row chunks instead of allocating 30 GiB."""


def left_padded_positions(attention_mask: Tensor) -> Tensor:
    """Position ids as ``generate`` derives them, so a left-padded row sees the positions it is sampled at."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp_min(0)


@torch.no_grad()
def unsteered_logprobs(model: Any, sequences: Tensor, attention_mask: Tensor, prompt_length: int) -> Tensor:
    """Mean log-probability of each row's new tokens (those the mask keeps) under the unsteered model."""
    position_ids = left_padded_positions(attention_mask)
    new = sequences.shape[1] - prompt_length
    rows = max(1, SCORING_LOGITS_BUDGET // max(1, (new + 1) * model.config.get_text_config().vocab_size))
    means = []
    for start in range(0, sequences.shape[0], rows):
        part = slice(start, start + rows)
        logits = model(
            input_ids=sequences[part],
            attention_mask=attention_mask[part],
            position_ids=position_ids[part],
            logits_to_keep=new + 1,  # the prompt's last position predicts the first new token
        ).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        picked = logprobs.gather(-1, sequences[part, prompt_length:, None]).squeeze(-1)
        keep = attention_mask[part, prompt_length:].to(picked.dtype)
        means.append((picked * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1))
    return torch.cat(means)


@torch.no_grad()
def encode_batch(tokenizer: Any, prompts: Sequence[str]) -> Any:
    """Left-padded input ids and mask, under the tokenizer's lock (``steering.models.tokenizer_lock``)."""
    with tokenizer_lock(tokenizer):
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        # the chat template (or raw_prompt) already starts with <bos>; a second one would change the model's input
        return tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)


def generate(
    model: Any,
    tokenizer: Any,
    requests: Sequence[Request],
    params: GenerationParams,
    layer: int,
    positions: Positions = "all",
    score_unsteered: bool = False,
    interrupt: threading.Event | None = None,
    compile: bool = False,
) -> list[Generation]:
    """Generate one batch, each row with its own steering; left padding is never steered.

    A row whose steered activations or logits are not finite comes back with ``error`` set
    (naming its alpha and method); its batch mates are unaffected. ``compile`` runs the
    decoder layers ``torch.compile``d over a static KV cache (``steering.compiled``).
    """
    if not requests:
        return []
    batch = encode_batch(tokenizer, [prompt_text(tokenizer, r) for r in requests]).to(model.device)
    prompt_length = batch["input_ids"].shape[1]
    eos_ids = _eos_ids(model, tokenizer)
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=params.max_new_tokens,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
        # transformers' own whole-model compile would trace the steering hooks: layers are compiled instead
        **({"cache_implementation": "static", "disable_compile": True} if compile else {}),
    )
    rows = len(requests)
    guard = FiniteGuard(rows, model.device)
    processors = LogitsProcessorList([guard])
    if not params.greedy:
        # CPU keeps the generator-per-row sampler whose texts the offline demo and tests were measured with
        sampler = PerRowSampler if model.device.type == "cpu" else BatchedSeededSampler
        processors.append(sampler([r.seed for r in requests], params, model.device))
    stop_strings = StopStringCriteria(tokenizer, list(params.stop_seqs)) if params.stop_seqs else None
    end = ReplyEnd(prompt_length, eos_ids, rows, model.device, stop_strings, interrupt)

    layers = compiled_layers(model) if compile else nullcontext()
    steered = any(r.steering is not None for r in requests)
    hooked = (
        steering_hook(model, layer, [r.steering for r in requests], positions, prompt_length, batch["attention_mask"])
        if steered
        else nullcontext(None)
    )
    with layers, hooked as hook:
        sequences = model.generate(
            **batch,
            generation_config=config,
            logits_processor=processors,
            stopping_criteria=StoppingCriteriaList([end]),
        )

    new_tokens = sequences[:, prompt_length:]
    # a row's reply runs up to and including the token that ended it
    lengths = end.end.clamp(max=new_tokens.shape[1])
    reply_mask = torch.arange(new_tokens.shape[1], device=new_tokens.device)[None, :] < lengths[:, None]
    logprobs = None
    if score_unsteered and new_tokens.shape[1] > 0:
        full_mask = torch.cat([batch["attention_mask"], reply_mask.long()], dim=1)
        logprobs = unsteered_logprobs(model, sequences, full_mask, prompt_length).tolist()
    bad_hidden = hook.bad_rows.tolist() if hook is not None else [False] * rows
    bad_logits = guard.bad.tolist()

    generations = []
    for i, request in enumerate(requests):
        ids = new_tokens[i][reply_mask[i]].tolist()
        with tokenizer_lock(tokenizer):
            text = tokenizer.decode(ids, skip_special_tokens=True)
        cut = _cut_at_stop(text, params.stop_seqs)
        ended = bool(lengths[i] < new_tokens.shape[1]) or cut != text or len(ids) < params.max_new_tokens
        error = None
        if end.interrupted:
            error = "generation was interrupted: the process is exiting"
        elif bad_hidden[i] or bad_logits[i]:
            where = "steered hidden states" if bad_hidden[i] else "logits"
            error = f"non-finite {where} ({_describe(request.steering)}, {model.dtype}): reduce alpha or use float32"
        generations.append(
            Generation(
                text=cut,
                stop_reason="stop" if ended else "max_tokens",
                input_tokens=int(batch["attention_mask"][i].sum()),
                output_tokens=len(ids),
                token_ids=ids,
                unsteered_logprob=None if logprobs is None or not ids else logprobs[i],
                error=error,
                batch_rows=rows,
            )
        )
    return generations


def _describe(steering: RowSteering | None) -> str:
    if steering is None:
        return "unsteered"
    return f"alpha={steering.alpha:g}, method={steering.method}"


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def generate_in_batches(
    model: Any,
    tokenizer: Any,
    requests: Sequence[Request],
    params: GenerationParams,
    layer: int,
    batch_size: int,
    positions: Positions = "all",
    score_unsteered: bool = False,
    interrupt: threading.Event | None = None,
    compile: bool = False,
) -> list[Generation]:
    """``generate`` in chunks of ``batch_size``; an out-of-memory error halves the chunk and retries."""
    results: list[Generation] = []
    for start in range(0, len(requests), batch_size):
        chunk = requests[start : start + batch_size]
        try:
            results.extend(
                generate(model, tokenizer, chunk, params, layer, positions, score_unsteered, interrupt, compile)
            )
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if not is_out_of_memory(error) or len(chunk) == 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = max(1, len(chunk) // 2)
            logger.warning("out of memory at batch size %d; retrying at %d", len(chunk), half)
            results.extend(
                generate_in_batches(
                    model, tokenizer, chunk, params, layer, half, positions, score_unsteered, interrupt, compile
                )
            )
    return results
