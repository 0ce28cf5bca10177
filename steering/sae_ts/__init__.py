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
bisection until the loss on reference sentences rises by ``loss_increase`` nats. docs/sae-ts.md lists every point
where this module departs from the authors' code.

python -m steering.sae_ts fit --model google/gemma-2-2b-it --layer 20
"""

from steering.sae_ts.approximator import Approximator, Fit, fit_approximator, r2, target_offtarget_ratio
from steering.sae_ts.cli import fit, main
from steering.sae_ts.config import (
    CANDIDATES_PER_DIMENSION,
    FIRST_MEASUREMENT,
    REFERENCE_GRID,
    SAMPLING,
    SEQUENCE_TOKENS,
    TARGET_LOSS,
    MeasureConfig,
    approximator_path,
    check_candidates,
    measurement_texts,
    target_loss_for,
)
from steering.sae_ts.measure import EffectMeter, candidate_directions, feature_activations, measure_effects
from steering.sae_ts.scale import corpus_chunks, grid_scale, loss_matched_scale, reference_loss

__all__ = [
    "CANDIDATES_PER_DIMENSION", "FIRST_MEASUREMENT", "REFERENCE_GRID", "SAMPLING", "SEQUENCE_TOKENS", "TARGET_LOSS",
    "Approximator", "EffectMeter", "Fit", "MeasureConfig", "approximator_path", "candidate_directions",
    "check_candidates", "corpus_chunks", "feature_activations", "fit", "fit_approximator", "grid_scale",
    "loss_matched_scale", "main", "measure_effects", "measurement_texts", "r2", "reference_loss",
    "target_loss_for", "target_offtarget_ratio",
]  # fmt: skip
