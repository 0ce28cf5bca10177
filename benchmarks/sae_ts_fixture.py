"""SAE-TS fit quality and cost on the tiny offline fixture: the authors' measurement against our first one.

Each measurement is fitted both ways (``adam``, the authors' training, held out on the last 100 candidates;
``ridge``, lambda 1 on a random 20%). Both measurements use every one of the tiny SAE's 256 decoder rows
(4 x d_model) as candidates. ``reference``: the
defaults (14 raw prompts, 64 samples each, a 640-sample baseline, temperature 1 / top-k 50, the grid scale
rule); the random model's loss sits at chance (ln 400 = 5.99), so the absolute target is its unsteered
corpus loss + 0.04 nats instead of gemma-2-2b's 4.0. ``first``: this project's first measurement (12 chat
prompts, one sample each, nearly greedy, +0.05-nat bisection).

python benchmarks/sae_ts_fixture.py --out benchmarks/results/sae-ts-fixture-cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/sae-ts-fixture-cpu.json")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from steering.directions import SaeRef, load_sae
    from steering.sae_ts import (
        FIRST_MEASUREMENT,
        EffectMeter,
        MeasureConfig,
        candidate_directions,
        corpus_chunks,
        fit_approximator,
        measure_effects,
        reference_loss,
    )
    from steering.testing import build_tiny_gemma, build_tiny_sae

    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="sae-ts-fixture-"))
    model_dir, sae_dir = build_tiny_gemma(work / "model"), build_tiny_sae(work / "sae")
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    sae = load_sae(SaeRef(str(sae_dir), release=None))
    base = reference_loss(model, corpus_chunks(tokenizer, None, 128), 2, None, 0.0)  # BOS + 31 tokens, as theirs
    configs = {
        "reference": MeasureConfig(layer=2, target_loss=round(base + 0.04, 4), batch_size=args.batch_size),
        "first": MeasureConfig(
            layer=2, max_new_tokens=16, loss_increase=0.05, batch_size=args.batch_size, **FIRST_MEASUREMENT
        ),
    }
    results = {}
    for name, config in configs.items():
        started = time.monotonic()
        meter = EffectMeter(model, tokenizer, sae, config)
        baseline_s = time.monotonic() - started
        directions, _ = candidate_directions(sae, config)
        started = time.monotonic()
        effects, scales = measure_effects(meter, directions)
        measure_s = time.monotonic() - started
        fits = {
            method: fit_approximator(directions, effects, {"model": "tiny", "sae": "tiny", "layer": "2"}, fit=method)
            for method in ("adam", "ridge")
        }
        results[name] = {
            "config": {k: v for k, v in asdict(config).items() if v is not None},
            "candidates": len(directions),
            **{
                f"{method}_{key}": round(getattr(fit, key), 4)
                if key != "mse_heldout"
                else float(f"{fit.mse_heldout:.4g}")
                for method, fit in fits.items()
                for key in ("r2_heldout", "r2_mean_only", "mse_heldout")
            },
            "scale_median": round(float(scales.median()), 2),
            "scales_at_grid_end_or_cap": int((scales >= 200).sum()),
            "baseline_seconds": round(baseline_s, 1),
            "seconds_per_candidate": round(measure_s / len(directions), 3),
        }
        print(name, json.dumps(results[name]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": "python benchmarks/sae_ts_fixture.py",
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, CPU",
        "unsteered_corpus_loss": round(base, 4),
        "results": results,
    }
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
