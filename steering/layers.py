"""Where the decoder layers of a causal LM are, and which layer numbers are valid."""

from __future__ import annotations

from torch import nn


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """``model.model.layers`` of a causal LM; layer L's output is TransformerLens ``blocks.L.hook_resid_post``."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    return base.layers


def check_layer(layer: int, num_layers: int) -> None:
    if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < num_layers:
        raise ValueError(
            f"layer {layer!r} is out of range: the model has {num_layers} decoder layers (0..{num_layers - 1})"
        )
