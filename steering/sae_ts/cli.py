"""python -m steering.sae_ts fit: measure the candidates (checkpointed, so a stopped fit resumes), fit, save."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from steering.directions import SaeRef, check_sae_fits, load_sae
from steering.sae_ts.approximator import FITS, Fit, fit_approximator
from steering.sae_ts.config import (
    PROMPT_SETS,
    SAMPLING,
    SCALE_RULES,
    MeasureConfig,
    approximator_path,
    check_candidates,
    corpus_chunks_for,
    target_loss_for,
)
from steering.sae_ts.measure import EffectMeter, candidate_directions, measure_effects

logger = logging.getLogger(__name__)


def fit(
    model_name: str,
    sae_ref: SaeRef,
    config: MeasureConfig,
    device: str | None = None,
    dtype: str | None = None,
    out: Path | None = None,
    method: str = "adam",
    ridge: float = 1.0,
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
    result = fit_approximator(directions, effects, meta, fit=method, ridge=ridge)
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
    fit_cmd.add_argument(
        "--corpus-chunks", type=int, default=None, help="loss chunks (default: the authors', 128 for 2b, 32 for 9b)"
    )
    fit_cmd.add_argument("--loss-chunks", choices=["bos", "plain"], default="bos", help="BOS + 31 tokens (theirs)")
    fit_cmd.add_argument("--fit", choices=list(FITS), default="adam", help="adam (theirs) or ridge")
    fit_cmd.add_argument("--ridge", type=float, default=1.0, help="the ridge fit's lambda")
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
        corpus_chunks=args.corpus_chunks or corpus_chunks_for(args.model),
        loss_chunks=args.loss_chunks,
        prompt_set=args.prompt_set,
        samples_per_prompt=args.samples_per_prompt,
        baseline_samples_per_prompt=args.baseline_samples_per_prompt,
        batch_size=args.batch_size,
    )
    out = Path(args.out) if args.out else None
    result = fit(args.model, sae_ref, config, args.device, args.dtype, out, method=args.fit, ridge=args.ridge)
    print(
        f"held-out R^2 {result.r2_heldout:.3f} (predicting the mean: {result.r2_mean_only:.3f}); "
        f"held-out MSE {result.mse_heldout:.4g}"
    )
    print(f"saved {args.out or approximator_path(args.model, sae_ref, args.layer)}")
    return 0
