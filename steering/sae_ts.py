"""SAE-Targeted Steering (Chalnev, Siu & Conmy, arXiv 2411.02193).

1. Measure what candidate directions do: steer at layer L with each unit vector (SAE decoder rows;
   random directions on request), generate short continuations of neutral prompts, then encode layer L of the
   *unsteered* model over that text with the SAE. effect = mean feature activations of the steered
   text minus those of unsteered text. The vector itself is gone when the text is encoded, so the
   effect is what steering did to the text, not the SAE's reading of the added vector.
2. Fit a linear map direction -> effect (with bias) and report its held-out R^2.
3. For target feature weights t, the SAE-TS vector is normalize(normalize(W t) - normalize(W b)):
   the direction whose predicted effect points at t, minus the part every direction causes anyway.

Measurement: by default the authors' (``ft_effects/utils.py``): their 14 raw prompts after BOS, 64 samples
each per candidate at temperature 1 / top-k 50, 32 tokens in all, against a 640-sample baseline.

Scale rule: candidates are compared at equal harm. By default the authors' rule: raise the scale on the
grid 0, 20, ..., 200 until the loss on 32-token corpus chunks exceeds an absolute ``target_loss`` (4.0 nats
for gemma-2-2b, 3.5 for 9b), interpolating between the last two points. ``scale_rule="loss_increase"`` is ours:
bisection until the loss on reference sentences rises by ``loss_increase`` nats. README lists every point
where this module departs from the authors' code.

python -m steering.sae_ts fit --model google/gemma-2-2b-it --layer 20
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from steering import PROMPTS_DIR
from steering.directions import SaeRef, check_sae_fits, content_positions, load_sae
from steering.generation import GenerationParams, Request, generate_in_batches, prompt_text
from steering.hooks import RowSteering, recording, steering_hook
from steering.sizing import choose_batch_size

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
        if self.corpus is not None and not Path(self.corpus).is_file():
            raise ValueError(f"corpus {self.corpus!r} does not exist (a text file for the reference scale rule)")


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


@dataclass
class Approximator:
    """effect ≈ direction @ W + b, for unit directions at their loss-matched scale."""

    W: Tensor  # (d_model, d_sae)
    b: Tensor  # (d_sae,)
    meta: dict[str, str]

    def predict(self, directions: Tensor) -> Tensor:
        return directions @ self.W + self.b

    def targeted_vector(self, target: Tensor) -> Tensor:
        """SAE-TS: normalize(normalize(W t) - normalize(W b)), W used from effects back to directions."""
        toward = self.W @ target
        common = self.W @ self.b
        vector = toward / toward.norm() - common / common.norm()
        return vector / vector.norm()

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file({"W": self.W.contiguous(), "b": self.b.contiguous()}, str(path), metadata=self.meta)

    @classmethod
    def load(cls, path: str | Path) -> Approximator:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return cls(f.get_tensor("W"), f.get_tensor("b"), dict(f.metadata() or {}))


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


@torch.no_grad()
def reference_loss(model: Any, batch: Any, layer: int, direction: Tensor | None, scale: float) -> float:
    rows = [None if direction is None else RowSteering(direction, scale)] * batch["input_ids"].shape[0]
    position_ids = (batch["attention_mask"].cumsum(1) - 1).clamp_min(0)  # left padding, as generate sees it
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


def corpus_chunks(tokenizer: Any, path: str | Path | None, n_chunks: int, length: int = 32) -> dict[str, Tensor]:
    """Consecutive ``length``-token chunks of a text file (no padding), at most ``n_chunks``."""
    ids = tokenizer(Path(path or CORPUS_FILE).read_text(), add_special_tokens=False)["input_ids"]
    chunks = [ids[i : i + length] for i in range(0, len(ids) - length + 1, length)][:n_chunks]
    if not chunks:
        raise ValueError(f"the corpus {path or CORPUS_FILE} is shorter than one {length}-token chunk")
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
    """
    total = torch.zeros(sae.cfg.d_sae, dtype=torch.float64)
    count = 0
    for start in range(0, len(requests), batch_size):
        rows = [
            (tokenizer(prompt_text(tokenizer, request), add_special_tokens=False)["input_ids"], reply)
            for request, reply in zip(requests[start : start + batch_size], replies[start : start + batch_size])
        ]
        length = max(len(p) + len(r) for p, r in rows)
        pad = tokenizer.pad_token_id
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        reply_mask = torch.zeros_like(ids, dtype=torch.bool)
        for i, (prefix, reply) in enumerate(rows):
            sequence = prefix + reply
            ids[i, length - len(sequence) :] = torch.tensor(sequence)
            mask[i, length - len(sequence) :] = 1
            reply_mask[i, length - len(reply) :] = len(reply) > 0
        position_ids = (mask.cumsum(1) - 1).clamp_min(0)
        with recording(model, layer) as seen:
            model(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                position_ids=position_ids.to(model.device),
            )
        hidden = seen[0]
        acts = sae.encode(hidden[reply_mask.to(hidden.device)].to(sae.W_dec.dtype))
        total += acts.double().sum(dim=0).cpu()
        count += len(acts)
    return (total / max(count, 1)).float()


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
            chunks = corpus_chunks(tokenizer, config.corpus, config.corpus_chunks)
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


@dataclass(frozen=True)
class Fit:
    approximator: Approximator
    r2_heldout: float
    r2_mean_only: float
    mse_heldout: float
    """The authors' validation figure: mean squared error of the predicted effects on held-out candidates."""


def r2(truth: Tensor, predicted: Tensor) -> float:
    """Coefficient of determination over every (candidate, feature) cell."""
    total = ((truth - truth.mean(dim=0)) ** 2).sum()
    return float(1 - ((truth - predicted) ** 2).sum() / total)


def _ridge(directions: Tensor, effects: Tensor, ridge: float) -> tuple[Tensor, Tensor]:
    x = torch.cat([directions, torch.ones(len(directions), 1)], dim=1).double()
    penalty = torch.eye(x.shape[1], dtype=torch.float64) * ridge
    penalty[-1, -1] = 0  # the bias is not shrunk
    solution = torch.linalg.solve(x.T @ x + penalty, x.T @ effects.double())
    return solution[:-1].float(), solution[-1].float()


def fit_approximator(
    directions: Tensor, effects: Tensor, meta: dict[str, str], ridge: float = 1.0, holdout: float = 0.2, seed: int = 0
) -> Fit:
    """Least squares with a small ridge; R^2 on held-out candidates against predicting the training mean."""
    order = torch.randperm(len(directions), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(len(directions) * holdout))
    test, train = order[:n_test], order[n_test:]
    W, b = _ridge(directions[train], effects[train], ridge)
    heldout = r2(effects[test], directions[test] @ W + b)
    mean_only = r2(effects[test], effects[train].mean(dim=0).expand_as(effects[test]))
    mse = float(((effects[test] - (directions[test] @ W + b)) ** 2).mean())
    W_all, b_all = _ridge(directions, effects, ridge)
    meta = {
        **meta,
        "r2_heldout": f"{heldout:.4f}",
        "r2_mean_only": f"{mean_only:.4f}",
        "mse_heldout": f"{mse:.6g}",
        "n_candidates": str(len(directions)),
    }
    return Fit(Approximator(W_all, b_all, meta), heldout, mean_only, mse)


def target_offtarget_ratio(effect: Tensor, feature: int) -> float:
    """Effect on the target feature per unit of (L2) effect on all the others."""
    others = torch.cat([effect[:feature], effect[feature + 1 :]])
    return float(effect[feature] / others.norm().clamp_min(1e-12))


def fit(
    model_name: str,
    sae_ref: SaeRef,
    config: MeasureConfig,
    device: str | None = None,
    dtype: str | None = None,
    out: Path | None = None,
) -> Fit:
    """Measure, fit and save; measured effects are checkpointed beside ``out`` so a stopped run resumes."""
    from steering.models import default_device, default_dtype, load_model

    device = device or default_device()
    model, tokenizer = load_model(model_name, device, dtype or default_dtype(device))
    sae = load_sae(sae_ref, device=device)
    check_sae_fits(
        d_in=sae.cfg.d_in,
        hook_name=sae.cfg.metadata.hook_name,
        hidden_size=model.config.hidden_size,
        layer=config.layer,
        sae_name=sae_ref.name,
    )
    out = out or approximator_path(model_name, sae_ref, config.layer)
    directions, _ = candidate_directions(sae, config)
    check_candidates(len(directions), model.config.hidden_size)
    meter = EffectMeter(model, tokenizer, sae, config)
    effects, scales = measure_effects(meter, directions, out.with_suffix(".effects.safetensors"))
    meta = {"model": model_name, "sae": sae_ref.name, "layer": str(config.layer), "config": json.dumps(config.__dict__)}
    result = fit_approximator(directions, effects, meta)
    result.approximator.save(out)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steering.sae_ts", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit_cmd = commands.add_parser("fit", help="measure candidate effects, fit and save the approximator")
    fit_cmd.add_argument("--model", required=True, help="hub id, local folder, or smollm2-135m-instruct")
    fit_cmd.add_argument("--layer", type=int, required=True)
    fit_cmd.add_argument("--sae-release", default="gemma-scope-2b-pt-res-canonical")
    fit_cmd.add_argument("--sae-id", default=None, help="default: layer_<L>/width_16k/canonical")
    fit_cmd.add_argument("--sae", default=None, help="a local SAE folder instead of a release")
    fit_cmd.add_argument("--n-features", type=int, default=None, help="decoder-row candidates (default 4 x d_model)")
    fit_cmd.add_argument("--n-random", type=int, default=MeasureConfig.n_random, help="random candidates (default 0)")
    fit_cmd.add_argument("--sampling", choices=list(SAMPLING), default=MeasureConfig.sampling)
    fit_cmd.add_argument("--scale-rule", choices=list(SCALE_RULES), default=MeasureConfig.scale_rule)
    fit_cmd.add_argument(
        "--target-loss", type=float, default=None, help="reference rule (nats; default: 4.0 for 2b, 3.5 for 9b)"
    )
    fit_cmd.add_argument("--corpus", default=None, help="text file for the reference rule (default: a small one)")
    fit_cmd.add_argument("--prompt-set", choices=list(PROMPT_SETS), default=MeasureConfig.prompt_set)
    fit_cmd.add_argument("--samples-per-prompt", type=int, default=MeasureConfig.samples_per_prompt)
    fit_cmd.add_argument("--baseline-samples-per-prompt", type=int, default=MeasureConfig.baseline_samples_per_prompt)
    fit_cmd.add_argument("--batch-size", type=int, default=None, help="default: 64 on CPU, automatic on CUDA")
    fit_cmd.add_argument(
        "--max-new-tokens", type=int, default=None, help="default: sequences of 32 tokens in all (reference set)"
    )
    fit_cmd.add_argument("--loss-increase", type=float, default=MeasureConfig.loss_increase)
    fit_cmd.add_argument("--device", default=None)
    fit_cmd.add_argument("--dtype", default=None)
    fit_cmd.add_argument("--out", default=None, help="default: ~/.cache/steering-eval/sae_ts/<model>__<sae>__layer<L>")
    args = parser.parse_args(argv)
    sae_ref = (
        SaeRef(args.sae, release=None)
        if args.sae
        else SaeRef(args.sae_id or f"layer_{args.layer}/width_16k/canonical", args.sae_release)
    )
    config = MeasureConfig(
        args.layer,
        args.n_features,
        args.n_random,
        args.max_new_tokens,
        args.loss_increase,
        sampling=args.sampling,
        scale_rule=args.scale_rule,
        target_loss=args.target_loss if args.target_loss is not None else target_loss_for(args.model),
        corpus=args.corpus,
        prompt_set=args.prompt_set,
        samples_per_prompt=args.samples_per_prompt,
        baseline_samples_per_prompt=args.baseline_samples_per_prompt,
        batch_size=args.batch_size,
    )
    result = fit(args.model, sae_ref, config, args.device, args.dtype, Path(args.out) if args.out else None)
    print(
        f"held-out R^2 {result.r2_heldout:.3f} (predicting the mean: {result.r2_mean_only:.3f}); "
        f"held-out MSE {result.mse_heldout:.4g}"
    )
    print(f"saved {args.out or approximator_path(args.model, sae_ref, args.layer)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
