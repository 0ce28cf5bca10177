"""A resolved steering request as one JSON string: what crosses into a vLLM worker, in process or over HTTP.

vLLM carries per-request extras in ``SamplingParams.extra_args`` (``vllm_xargs`` on its OpenAI-compatible
server, whose values must be str/int/float), so the direction travels as base64 float32 bytes inside a string.
The client resolves the direction (SAE row, SAE-TS, difference of means, file) exactly as the HF engine does,
so both engines steer with the same vector.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

WIRE_VERSION = 1
EXTRA_ARGS_KEY = "steering"


@dataclass(frozen=True)
class WireSteering:
    layer: int
    alpha: float
    method: str
    direction: torch.Tensor
    positions: str = "all"

    def encode(self) -> str:
        raw = self.direction.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
        return json.dumps(
            {
                "v": WIRE_VERSION,
                "layer": int(self.layer),
                "alpha": float(self.alpha),
                "method": self.method,
                "positions": self.positions,
                "direction": base64.b64encode(raw).decode("ascii"),
            },
            sort_keys=True,
        )


def decode(text: str) -> WireSteering:
    """The inverse of ``encode``; a malformed string is an error naming what is wrong."""
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"steering extra arg is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION:
        raise ValueError(
            f"steering extra arg has wire version {data.get('v') if isinstance(data, dict) else None!r}, "
            f"this worker reads version {WIRE_VERSION}: install the same steering-eval on both sides"
        )
    vector = np.frombuffer(base64.b64decode(data["direction"]), dtype=np.float32).copy()
    return WireSteering(
        layer=int(data["layer"]),
        alpha=float(data["alpha"]),
        method=str(data["method"]),
        direction=torch.from_numpy(vector),
        positions=str(data.get("positions", "all")),
    )


def cache_salt(text: str) -> str:
    """The prefix-cache salt of a steered request: KV computed under one steering is never read under another."""
    return "steering-" + hashlib.sha256(text.encode()).hexdigest()[:32]
