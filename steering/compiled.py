"""The opt-in compiled path (``-M compile=true``): decoder layers through ``torch.compile``.

Only each layer's ``forward`` is compiled, never the module call around it, so the steering
hooks stay eager Python: their per-batch directions and alphas never become guards that
recompile the graph, and the steered arithmetic is the same code as on the eager path. The
static KV cache (set by ``generate``) keeps decode shapes fixed, so one graph serves every step.
The compiled forwards are swapped in only while a batch runs: weights are shared by every
provider of the same model, and one that did not ask for compilation must not get it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from steering.layers import decoder_layers

_LOCK = threading.Lock()
_ATTRIBUTE = "_steering_compiled_forward"


def _compiled_forward(layer: torch.nn.Module) -> Any:
    """The layer's compiled forward, kept on the layer itself: it goes when the model goes (a module-level table
    keyed by the layer held every model ever compiled, and could hand a new layer at a reused id a dead one's)."""
    with _LOCK:
        compiled = layer.__dict__.get(_ATTRIBUTE)
        if compiled is None:
            # dynamic: batch sizes and prompt lengths vary between batches; one graph per layer kind
            compiled = torch.compile(layer.forward, dynamic=True)
            object.__setattr__(layer, _ATTRIBUTE, compiled)
        return compiled


@contextmanager
def compiled_layers(model: torch.nn.Module) -> Iterator[None]:
    """Run the block with every decoder layer's forward compiled; the eager forwards come back after."""
    layers = decoder_layers(model)
    eager = [layer.__dict__.get("forward") for layer in layers]
    try:
        for layer in layers:
            layer.forward = _compiled_forward(layer)
        yield
    finally:
        for layer, original in zip(layers, eager):
            if original is None:
                del layer.forward
            else:
                layer.forward = original
