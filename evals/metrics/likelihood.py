"""How surprising each token of a reply is to a small multilingual reference model, given its prompt.

Word lists cannot see grammar; a language model can: fluent text in any language it was trained on is
likely under it, word salad of real words is not. The reference loads once per process (weights are
shared with a steered model of the same name, device and dtype, under that model's lock).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

REFERENCE_MODEL = "gemma-3-270m"
"""Gemma 3 270M, the base model: trained on 140+ languages, shipped offline in PyPI packages, small enough
for a CPU. Any causal LM name or path that ``steering.models.load_model`` takes works in its place."""
BATCH_TOKENS = 2048
"""Prompt + reply tokens per forward pass (padded), so a batch's activations stay small on a CPU."""
LOGIT_ROWS = 256
"""Positions whose full-vocabulary log-softmax is held at once (256 x 262k floats = 268 MB)."""
SENTENCE_ENDS = (".", "!", "?", ":", "\n")


@dataclass(frozen=True)
class Surprise:
    """A reply's token ids and each token's negative log-likelihood (nats) under the reference model."""

    ids: tuple[int, ...]
    nll: tuple[float, ...]


def context(prompt: str | None, reply: str) -> str:
    """The text a reply is read after: its prompt itself when the reply continues the prompt's sentence
    (``I think`` + `` that...``), the prompt and a blank line when the prompt is finished (an instruction)."""
    if not prompt:
        return ""
    if reply[:1].isspace() or not prompt.rstrip(" ").endswith(SENTENCE_ENDS):
        return prompt
    return prompt + "\n\n"


def reference_dtype(device: str) -> str:
    """bfloat16 where the hardware computes it: on a CPU with AVX-512 BF16 (or AMX) scoring runs 2.5x faster
    than in float32 (the 262k-row lm head 4.6x), and a reply's mean NLL moves by 0.009 nats on average, 0.09 at
    most (benchmarks/fluency_cost.py); on a CPU without it (an AVX2-only EPYC) bfloat16 is emulated and far
    slower than float32, so float32 there (60 s per 100 replies of 48 tokens on 2 such cores)."""
    if device.startswith("cuda") or cpu_has_bfloat16():
        return "bfloat16"
    return "float32"


def cpu_has_bfloat16() -> bool:
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def load_reference(reference: str = REFERENCE_MODEL, device: str | None = None) -> tuple[Any, Any]:
    from steering.models import default_device, load_model

    device = device or default_device()
    return load_model(reference, device, reference_dtype(device))


def _encode(tokenizer: Any, prompt: str | None, reply: str) -> tuple[list[int], list[int]]:
    before = context(prompt, reply)
    start = tokenizer(before).input_ids if before else []
    if not start or (tokenizer.bos_token_id is not None and start[0] != tokenizer.bos_token_id):
        # a reply read with no prompt still needs a first position to be predicted from
        start = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id, *start]
    return start, tokenizer(reply, add_special_tokens=False).input_ids


def encode_replies(
    tokenizer: Any, prompts: Sequence[str | None], replies: Sequence[str]
) -> list[tuple[list[int], list[int]]]:
    """(context ids, reply ids) per reply, under the tokenizer's lock: the reference may be the steered model,
    whose generation worker pads batches with the same tokenizer object."""
    from steering.models import tokenizer_lock

    with tokenizer_lock(tokenizer):
        return [_encode(tokenizer, p, r) for p, r in zip(prompts, replies)]


def surprises(
    replies: Sequence[str],
    prompts: Sequence[str | None] | None = None,
    reference: str = REFERENCE_MODEL,
    device: str | None = None,
) -> list[Surprise]:
    """Each reply's per-token NLL under the reference model, read after its prompt; batched by length."""
    import torch

    from steering.models import model_lock

    prompts = list(prompts) if prompts is not None else [None] * len(replies)
    if len(prompts) != len(replies):
        raise ValueError(f"{len(replies)} replies but {len(prompts)} prompts: pass one prompt (or None) per reply")
    model, tokenizer = load_reference(reference, device)
    lock = model_lock(model)
    keys = [(reference, str(model.device), str(model.dtype), context(p, r), r) for p, r in zip(prompts, replies)]
    out: list[Surprise | None] = [_CACHE.get(key) for key in keys]
    first = {key: i for i, key in reversed(list(enumerate(keys)))}  # one pass per distinct (context, reply)
    missing = [i for i, found in enumerate(out) if found is None and first[keys[i]] == i]
    todo = encode_replies(tokenizer, [prompts[i] for i in missing], [replies[i] for i in missing])
    encoded = dict(zip(missing, todo))
    order = sorted(missing, key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    batches: list[list[int]] = [[]]
    for i in order:
        width = len(encoded[i][0]) + len(encoded[i][1])
        if batches[-1] and width * (len(batches[-1]) + 1) > BATCH_TOKENS:
            batches.append([])
        batches[-1].append(i)
    with torch.inference_mode():
        for batch in filter(None, batches):
            _score_batch(model, tokenizer, [encoded[j] for j in batch], batch, out, lock)
    for i in missing:
        _CACHE.put(keys[i], out[i])
    out = [out[first[key]] if found is None else found for key, found in zip(keys, out)]
    return [s if s is not None else Surprise((), ()) for s in out]


class _Recent:
    """The last ``size`` surprises measured, so two scorers of one reply (fluency and relevance both read it
    after its prompt) run the reference once; safe across the scorers' worker threads."""

    def __init__(self, size: int = 4096) -> None:
        import threading

        self.size, self.items, self.lock = size, OrderedDict[tuple, Surprise](), threading.Lock()

    def get(self, key: tuple) -> Surprise | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
            return self.items.get(key)

    def put(self, key: tuple, value: Surprise | None) -> None:
        if value is None:
            return
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_CACHE = _Recent()


def _score_batch(
    model: Any,
    tokenizer: Any,
    rows: list[tuple[list[int], list[int]]],
    index: list[int],
    out: list[Surprise | None],
    lock: Any,
) -> None:
    import torch

    device = model.device
    width = max(len(a) + len(b) for a, b in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    where, targets = [], []  # (row, position) whose output predicts a reply token, and that token
    for r, (start, reply) in enumerate(rows):
        ids[r, : len(start) + len(reply)] = torch.tensor(start + reply)
        mask[r, : len(start) + len(reply)] = 1
        where += [(r, len(start) - 1 + k) for k in range(len(reply))]
        targets += reply
    if not targets:
        for i, (_, reply) in zip(index, rows):
            out[i] = Surprise(tuple(reply), ())
        return
    with lock:
        hidden = model.base_model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
    # a plain 2-D matrix of the positions scored: CPU matmul kernels take a slow path (13x measured in
    # bfloat16) on the strided 3-D slice that transformers' own logits_to_keep hands the lm head
    flat = hidden.reshape(-1, hidden.shape[-1])[torch.tensor([r * width + p for r, p in where], device=device)]
    target = torch.tensor(targets, device=device)
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    nll = []
    for start in range(0, len(targets), LOGIT_ROWS):
        logits = model.get_output_embeddings()(flat[start : start + LOGIT_ROWS]).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        picked = torch.log_softmax(logits, dim=-1).gather(1, target[start : start + LOGIT_ROWS, None])
        nll += (-picked[:, 0]).tolist()
    offset = 0
    for i, (_, reply) in zip(index, rows):
        out[i] = Surprise(tuple(reply), tuple(nll[offset : offset + len(reply)]))
        offset += len(reply)
