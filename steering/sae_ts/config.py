"""Settings of a measurement: the authors' defaults, our first measurement, target losses, file names."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from steering import PROMPTS_DIR
from steering.directions import SaeRef

logger = logging.getLogger(__name__)


PROMPTS_FILE = PROMPTS_DIR / "sae_ts" / "measurement.json"

SAMPLING = {
    # the authors' measurement (TransformerLens ignores top-p when top-k is set): temperature 1, top-k 50
    "reference": {"temperature": 1.0, "top_k": 50, "top_p": None},
    # this project's first setting, nearly greedy: each effect all-or-nothing and noisier
    "nearly_greedy": {"temperature": 1.0, "top_k": 50, "top_p": 0.3},
}

FIRST_MEASUREMENT = {
    "sampling": "nearly_greedy",
    "scale_rule": "loss_increase",
    "prompt_set": "chat",
    "samples_per_prompt": 1,
    "baseline_samples_per_prompt": 1,
}
"""This project's first measurement (one nearly greedy sample of 12 chat prompts, the +1-nat bisection), kept
by name for comparison with the authors' defaults: ``MeasureConfig(layer=..., **FIRST_MEASUREMENT)``."""

SCALE_RULES = ("reference", "loss_increase")
"""``reference``: the authors' grid + interpolation to an absolute loss on 32-token corpus chunks;
``loss_increase``: ours, bisection to a rise over the unsteered loss on the reference sentences."""

REFERENCE_GRID = tuple(range(0, 220, 20))

PROMPT_SETS = ("reference", "chat")
"""``reference``: the authors' 14 raw prompts (3 empty) after BOS; ``chat``: ours, 12 chat-formatted openings."""

SEQUENCE_TOKENS = 32
"""The authors' measured sequences are 32 tokens in all: BOS, the prompt, then the continuation."""

TARGET_LOSS = {"gemma-2-9b": 3.5, "gemma-2-2b": 4.0}
CORPUS_CHUNKS = {"gemma-2-9b": 8 * 4, "gemma-2-2b": 2 * 64}
"""The authors' loss chunks per model (batches x batch size); other models get gemma-2-2b's 128."""
"""The authors' absolute target loss (nats/token on their corpus) by model; other models get gemma-2-2b's."""

CORPUS_FILE = PROMPTS_DIR / "sae_ts" / "corpus.txt"
"""A small mixed prose-and-code default; the authors used 2 x 64 chunks of a code-and-web corpus."""

CANDIDATES_PER_DIMENSION = 4
"""Default candidates: 4 x d_model decoder rows. With fewer candidates than dimensions every fitted column
lies in their span (tests/test_sae_ts.py: the span test), so the fit is refused below d_model."""


@dataclass(frozen=True)
class MeasureConfig:
    layer: int
    n_features: int | None = None
    """Decoder rows used as candidates (a random subset of the SAE's features); None: 4 x d_model, at most d_sae."""
    n_random: int = 0
    """Random unit directions used as candidates (the authors used none; opt-in)."""
    max_new_tokens: int | None = None
    """New tokens per continuation; None: fill each sequence to 32 tokens (BOS + prompt + continuation) as the
    authors did for the reference prompts, 32 new tokens for the chat prompts."""
    loss_increase: float = 1.0
    seed: int = 0
    sampling: str = "reference"
    """How continuations are sampled when effects are measured: a key of ``SAMPLING``."""
    scale_rule: str = "reference"
    target_loss: float = 4.0
    """The reference rule's absolute loss (nats/token): the authors' 4.0 for gemma-2-2b, 3.5 for 9b."""
    corpus: str | None = None
    """Text file cut into 32-token chunks for the reference rule (default prompts/sae_ts/corpus.txt)."""
    corpus_chunks: int = 128
    """Loss chunks for the reference rule: the authors' 128 for gemma-2-2b, 32 for 9b (``corpus_chunks_for``)."""
    loss_chunks: str = "bos"
    """How the loss chunks are cut: a key of ``steering.sae_ts.scale.LOSS_CHUNKS`` (the authors': "bos")."""
    prompt_set: str = "reference"
    """A key of ``PROMPT_SETS`` (prompts/sae_ts/measurement.json)."""
    samples_per_prompt: int = 64
    """Continuations sampled per prompt for each candidate (the authors: 64 for gemma-2-2b)."""
    baseline_samples_per_prompt: int = 640
    """Continuations per prompt for the unsteered baseline, measured once (the authors: 10 x 64)."""
    batch_size: int | None = None
    """Rows per generation batch; None: 64 on CPU, on CUDA the most that fit (``steering.sizing``)."""

    def __post_init__(self) -> None:
        if self.prompt_set not in PROMPT_SETS:
            raise ValueError(f"unknown prompt set {self.prompt_set!r}: use one of {list(PROMPT_SETS)}")
        for name in ("samples_per_prompt", "baseline_samples_per_prompt"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {self.sampling!r}: use one of {list(SAMPLING)}")
        if self.scale_rule not in SCALE_RULES:
            raise ValueError(f"unknown scale rule {self.scale_rule!r}: use one of {list(SCALE_RULES)}")
        if self.loss_chunks not in ("bos", "plain"):
            raise ValueError(f"unknown loss chunks {self.loss_chunks!r}: use bos (the authors') or plain")
        if self.corpus is not None and not Path(self.corpus).is_file():
            raise ValueError(f"corpus {self.corpus!r} does not exist (a text file for the reference scale rule)")


def corpus_chunks_for(model_name: str) -> int:
    """The authors' number of loss chunks for a model (gemma-2-2b's 128 where they gave none)."""
    return next((n for key, n in CORPUS_CHUNKS.items() if key in model_name.lower()), CORPUS_CHUNKS["gemma-2-2b"])


def target_loss_for(model_name: str) -> float:
    """The authors' target loss for a model (gemma-2-2b's 4.0 where they gave none, with a warning)."""
    for key, loss in TARGET_LOSS.items():
        if key in model_name.lower():
            return loss
    logger.warning("no SAE-TS target loss is known for %s: using gemma-2-2b's 4.0 (set --target-loss)", model_name)
    return TARGET_LOSS["gemma-2-2b"]


def check_candidates(n_candidates: int, d_model: int) -> None:
    """Refuse an under-determined fit: fewer candidates than residual dimensions cannot recover the map."""
    if n_candidates < d_model:
        raise ValueError(
            f"{n_candidates} candidate directions for a {d_model}-dimensional residual stream: the fitted map would "
            f"only span the candidates; use at least {d_model} (default {CANDIDATES_PER_DIMENSION} x d_model)"
        )


def approximator_path(model: str, sae: SaeRef, layer: int) -> Path:
    """Where a fit is kept: one file per (model, SAE, layer)."""
    from steering.models import cache_dir

    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{model}__{sae.name}__layer{layer}").strip("-")
    return cache_dir() / "sae_ts" / f"{slug}.safetensors"


def measurement_texts(prompt_set: str = "reference") -> tuple[list[str], bool, list[str]]:
    """(prompts, whether they take the chat template, reference sentences for the loss_increase rule)."""
    data = json.loads(PROMPTS_FILE.read_text())
    chosen = data["prompt_sets"][prompt_set]
    return chosen["prompts"], chosen["chat_template"], data["reference"]
