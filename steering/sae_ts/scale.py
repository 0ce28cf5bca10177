"""Candidates are compared at equal harm: the scale at which steering raises the LM loss to a target."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from steering.generation import left_padded_positions
from steering.hooks import RowSteering, steering_hook
from steering.sae_ts.config import CORPUS_FILE

logger = logging.getLogger(__name__)


@torch.no_grad()
def reference_loss(model: Any, batch: Any, layer: int, direction: Tensor | None, scale: float) -> float:
    rows = [None if direction is None else RowSteering(direction, scale)] * batch["input_ids"].shape[0]
    position_ids = left_padded_positions(batch["attention_mask"])
    with steering_hook(model, layer, rows):
        logits = model(**batch, position_ids=position_ids).logits[:, :-1].float()
    targets = batch["input_ids"][:, 1:]
    # a target counts when it and the position predicting it are real tokens: with left padding, predicting
    # a row's first token (BOS) from a pad position is not language modelling
    mask = (batch["attention_mask"][:, 1:] * batch["attention_mask"][:, :-1]).bool()
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return float(losses[mask].mean())


def grid_scale(loss_at: Any, grid: tuple[float, ...], target: float) -> float:
    """The authors' rule: raise the scale along ``grid`` until the loss exceeds ``target``, then
    interpolate linearly between the last two points (extrapolating if the grid ends first).

    One departure: when the grid ends below the target and its last two losses do not rise, theirs
    extrapolates to a negative (or infinite) scale, steering the other way; here the scale is the grid's end.
    """
    losses: list[float] = []
    for scale in grid:
        losses.append(loss_at(scale))
        if losses[-1] > target:
            break
    if len(losses) < 2:
        raise ValueError(
            f"the loss at scale {grid[0]} ({losses[0]:.3f}) already exceeds the target {target}: "
            "raise --target-loss above the unsteered loss on the corpus"
        )
    (x1, x2), (y1, y2) = grid[len(losses) - 2 : len(losses)], losses[-2:]
    if y2 <= y1:
        return x2
    return x1 + (target - y1) * (x2 - x1) / (y2 - y1)


LOSS_CHUNKS = ("bos", "plain")
"""``bos``: the authors' rows (transformer_lens ``tokenize_and_concatenate``): BOS, then 31 consecutive tokens;
``plain``: this project's first rows, 32 consecutive tokens and no BOS (the loss sits at another level)."""


def corpus_chunks(
    tokenizer: Any, path: str | Path | None, n_chunks: int, length: int = 32, kind: str = "bos"
) -> dict[str, Tensor]:
    """``length``-token rows of a text file (no padding), at most ``n_chunks``, built as ``kind`` says."""
    if kind not in LOSS_CHUNKS:
        raise ValueError(f"unknown loss chunks {kind!r}: use one of {list(LOSS_CHUNKS)}")
    ids = tokenizer(Path(path or CORPUS_FILE).read_text(), add_special_tokens=False)["input_ids"]
    step = length - 1 if kind == "bos" else length
    chunks = [ids[i : i + step] for i in range(0, len(ids) - step + 1, step)][:n_chunks]
    if not chunks:
        raise ValueError(f"the corpus {path or CORPUS_FILE} is shorter than one {length}-token chunk")
    if kind == "bos":
        chunks = [[tokenizer.bos_token_id, *chunk] for chunk in chunks]
    input_ids = torch.tensor(chunks)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def loss_matched_scale(
    model: Any, batch: Any, layer: int, direction: Tensor, base_loss: float, increase: float, max_scale: float
) -> float:
    """The scale at which steering raises the reference loss by ``increase`` (bisection, 12 steps)."""
    if reference_loss(model, batch, layer, direction, max_scale) - base_loss < increase:
        return max_scale
    low, high = 0.0, max_scale
    for _ in range(12):
        middle = (low + high) / 2
        if reference_loss(model, batch, layer, direction, middle) - base_loss < increase:
            low = middle
        else:
            high = middle
    return (low + high) / 2
