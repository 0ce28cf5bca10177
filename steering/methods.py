"""What alpha does to a hidden state: one registry of steering methods.

Each method is a pure function ``(h, v, alpha) -> h'`` on broadcastable tensors:
``h`` is (..., D) hidden states, ``v`` is (..., D) the direction and ``alpha`` is
(..., 1) the per-row coefficient. Adding a method means adding one function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Method = Callable[[Tensor, Tensor, Tensor], Tensor]

METHODS: dict[str, Method] = {}


def register_method(name: str) -> Callable[[Method], Method]:
    """Register ``h -> h'`` under ``name``; a second method under the same name is refused."""

    def decorate(fn: Method) -> Method:
        if name in METHODS:
            raise ValueError(f"a steering method named {name!r} is already registered ({METHODS[name].__name__})")
        METHODS[name] = fn
        return fn

    return decorate


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown steering method {name!r}: known methods are {sorted(METHODS)}") from None


IDENTITY_AT_ZERO = frozenset({"add", "add_renorm"})
"""Methods that leave h bit for bit as it was at alpha 0 (x / x is exactly 1): their alpha-0 replies are one."""


def identity_at_zero(name: str) -> bool:
    return name in IDENTITY_AT_ZERO


def _norm(x: Tensor) -> Tensor:
    # float32 norms: bfloat16 norms of 2304-d vectors lose the 1e-5 precision we promise
    return x.float().norm(dim=-1, keepdim=True)


@register_method("add")
def add(h: Tensor, v: Tensor, alpha: Tensor) -> Tensor:
    """h + alpha * v: Neuronpedia's and SAE-TS's convention."""
    return h + alpha * v


@register_method("add_renorm")
def add_renorm(h: Tensor, v: Tensor, alpha: Tensor) -> Tensor:
    """h + alpha * v, rescaled per token to the norm of h (repeng's normalize=True)."""
    steered = h + alpha * v
    scale = _norm(h) / _norm(steered).clamp_min(torch.finfo(torch.float32).tiny)
    return (steered.float() * scale).to(h.dtype)


@register_method("orthogonal")
def orthogonal(h: Tensor, v: Tensor, alpha: Tensor) -> Tensor:
    """(I - P) h + alpha * P h with P = v v^T / |v|^2: Neuronpedia's orthogonal decomposition.

    alpha = 1 leaves h unchanged; alpha = 0 ablates the component along v.
    """
    unit = v / _norm(v).to(v.dtype)
    along = (h * unit).sum(dim=-1, keepdim=True) * unit
    return h - along + alpha * along


@register_method("projection_cap")
def projection_cap(h: Tensor, v: Tensor, alpha: Tensor) -> Tensor:
    """Cap the projection of h on unit(v) at alpha, leaving the orthogonal part alone."""
    unit = v / _norm(v).to(v.dtype)
    projection = (h * unit).sum(dim=-1, keepdim=True)
    excess = (projection - alpha).clamp_min(0)
    return h - excess * unit
