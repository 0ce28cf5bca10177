"""The one forward hook that steers: per-row coefficients and methods, padding masked out."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from steering.layers import check_layer, decoder_layers
from steering.methods import Method, get_method

Positions = Literal["all", "generated"]
POSITIONS: tuple[str, ...] = ("all", "generated")


@dataclass(frozen=True)
class RowSteering:
    """How one batch row is steered: ``method(h, direction, alpha)`` at the steered positions."""

    direction: Tensor
    alpha: float
    method: str = "add"

    def __post_init__(self) -> None:
        if not isinstance(self.alpha, int | float) or not math.isfinite(self.alpha):
            raise ValueError(f"alpha must be a finite number, got {self.alpha!r}")
        get_method(self.method)
        if self.direction.ndim != 1:
            raise ValueError(f"a steering direction is one vector; got shape {tuple(self.direction.shape)}")


def untuple(output: Any) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """The hidden states of a layer output and a way to put new ones back.

    Decoder layers return a plain tensor in transformers 5.x and a tuple before;
    writing ``out[0] += v`` on a tensor would silently steer batch row 0 only.
    """
    if isinstance(output, tuple):
        return output[0], lambda hidden: (hidden, *output[1:])
    return output, lambda hidden: hidden


def check_positions(positions: str) -> None:
    if positions not in POSITIONS:
        raise ValueError(f"unknown positions {positions!r}: use one of {list(POSITIONS)}")


class _SteeringHook:
    """State shared by the base-model pre-hook (which sees the attention mask) and the layer hook."""

    def __init__(
        self,
        rows: Sequence[RowSteering | None],
        positions: str,
        prompt_length: int | None,
        prompt_mask: Tensor | None = None,
    ):
        check_positions(positions)
        if positions == "generated" and prompt_length is None:
            raise ValueError("positions='generated' needs the padded prompt length")
        self.rows = list(rows)
        self.positions = positions
        self.prompt_length = prompt_length
        self.attention_mask: Tensor | None = None
        self.prompt_mask = prompt_mask
        self._seen = 0
        """Positions the steered layer has processed so far (prefill, then one per decode step)."""
        self._bad: Tensor | None = None
        self._prepared: tuple[Tensor, Tensor, list[tuple[Method, Tensor]], Tensor] | None = None

    @property
    def bad_rows(self) -> Tensor:
        """Rows whose steered hidden states were not finite (they continued unsteered, to be failed)."""
        return torch.zeros(len(self.rows), dtype=torch.bool) if self._bad is None else self._bad.cpu()

    def capture_mask(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        mask = kwargs.get("attention_mask")
        # with a static cache generate passes prepared 4-D masks (a dict per attention kind) instead
        self.attention_mask = mask if isinstance(mask, Tensor) and mask.ndim == 2 else None

    def _prepare(self, hidden: Tensor) -> tuple[Tensor, Tensor, list[tuple[Method, Tensor]], Tensor]:
        if self._prepared is None:
            dim = hidden.shape[-1]
            zeros = torch.zeros(dim)
            for row in self.rows:
                if row is not None and row.direction.shape[0] != dim:
                    raise ValueError(
                        f"steering direction has {row.direction.shape[0]} dimensions "
                        f"but the model's hidden size is {dim}"
                    )
            directions = torch.stack([zeros if r is None else r.direction for r in self.rows])
            alphas = torch.tensor([0.0 if r is None else float(r.alpha) for r in self.rows])
            steered = torch.tensor([r is not None for r in self.rows], device=hidden.device)
            groups: dict[str, list[int]] = {}
            for i, row in enumerate(self.rows):
                if row is not None:
                    groups.setdefault(row.method, []).append(i)
            # steering arithmetic runs in float32: in bfloat16, alpha * v would be rounded to 8 bits
            self._prepared = (
                directions.to(hidden.device, torch.float32)[:, None, :],
                alphas.to(hidden.device, torch.float32)[:, None, None],
                [(get_method(name), torch.tensor(idx, device=hidden.device)) for name, idx in groups.items()],
                steered,
            )
        return self._prepared

    def _position_mask(self, batch: int, steps: int, device: torch.device) -> Tensor:
        """(B, T) mask of the positions in this forward pass that get steered."""
        total = self._seen
        if self.attention_mask is not None:
            mask = self.attention_mask[:, -steps:].to(device).bool()
            total = self.attention_mask.shape[1]
        elif self.prompt_mask is not None:
            # generated positions are never padding: the mask is the prompt's, then ones
            start, length = total - steps, self.prompt_mask.shape[1]
            mask = torch.ones(batch, steps, dtype=torch.bool, device=device)
            if start < length:
                mask[:, : min(total, length) - start] = self.prompt_mask[:, start:total].to(device).bool()
        else:
            mask = torch.ones(batch, steps, dtype=torch.bool, device=device)
        if self.positions == "generated":
            index = torch.arange(total - steps, total, device=device)
            # the last prompt position predicts the first new token, so it is steered too
            mask = mask & (index >= self.prompt_length - 1)[None, :]
        return mask

    def __call__(self, module: nn.Module, args: tuple, output: Any) -> Any:
        hidden, rebuild = untuple(output)
        batch, steps, _ = hidden.shape
        self._seen += steps
        if batch != len(self.rows):
            raise ValueError(f"steering was set for {len(self.rows)} rows but the layer saw a batch of {batch}")
        directions, alphas, groups, steered = self._prepare(hidden)
        mask = (self._position_mask(batch, steps, hidden.device) & steered[:, None])[..., None]
        work = hidden.float()
        new = work
        for method, idx in groups:
            if len(idx) == batch:
                new = torch.where(mask, method(work, directions, alphas), new)
            else:
                rows = work.index_select(0, idx)
                changed = method(rows, directions.index_select(0, idx), alphas.index_select(0, idx))
                new = new.index_copy(0, idx, torch.where(mask.index_select(0, idx), changed, rows))
        new = new.to(hidden.dtype)
        # an overflowing row (alpha too large for float16) must not poison its batch mates' forward pass
        bad = ~torch.isfinite(new).flatten(1).all(dim=1)
        self._bad = bad if self._bad is None else self._bad | bad
        return rebuild(torch.where(bad[:, None, None], hidden, new))


@contextmanager
def steering_hook(
    model: nn.Module,
    layer: int,
    rows: Sequence[RowSteering | None],
    positions: Positions = "all",
    prompt_length: int | None = None,
    prompt_mask: Tensor | None = None,
) -> Iterator[_SteeringHook]:
    """Steer the output of decoder layer ``layer`` while the block runs; hooks always come off.

    Fires on the prefill and on every decode step. ``rows[i]`` steers batch row i
    (``None`` leaves it alone); positions the attention mask marks as padding are
    never touched. ``positions="generated"`` leaves the prompt alone except its last
    position, which predicts the first new token. ``prompt_mask`` (the prompt's 2-D attention
    mask) is needed where the model is not handed one, as with a static KV cache.
    """
    layers = decoder_layers(model)
    check_layer(layer, len(layers))
    hook = _SteeringHook(rows, positions, prompt_length, prompt_mask)
    base = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    handles = [
        base.register_forward_pre_hook(hook.capture_mask, with_kwargs=True),
        layers[layer].register_forward_hook(hook),
    ]
    try:
        yield hook
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def recording(model: nn.Module, layer: int) -> Iterator[list[Tensor]]:
    """Collect decoder layer ``layer``'s output of every forward pass inside the block.

    Installed after any steering hook, it sees the steered output. ``output_hidden_states`` is no
    substitute: transformers records it with hooks of its own that may run before ours.
    """
    seen: list[Tensor] = []
    handle = decoder_layers(model)[layer].register_forward_hook(lambda m, a, out: seen.append(untuple(out)[0]))
    try:
        yield seen
    finally:
        handle.remove()
