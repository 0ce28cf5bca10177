"""The seed sweep's generation on a gemma-2-2b-shaped random model: how fast the hardware runs it.

python benchmarks/seed_sweep.py --device cuda --out benchmarks/results/seed-sweep-cuda.json  # ~2 min on an H100
python benchmarks/seed_sweep.py --device cpu --dtype float32 --prompts 2 --alphas 2 --max-tokens 2 --repeats 1  # smoke

Builds ``Gemma2Config()``'s defaults (gemma-2-2b's architecture, random weights, no download) and a
random 16384-row unit-norm decoder standing in for Gemma Scope's layer_20/width_16k SAE (the device
image has no sae-lens; only the row's shape and norm matter for timing). Then, through the provider's
generation core (``steering.generation.generate_in_batches``, the code ``steered/`` runs, without
Inspect), it times:

  sweep     every (prompt, alpha, method) row of the seed sweep -- 40 prompts x (20 alphas + 0) x
            (add, add_renorm) = 1,680 rows, 64 new tokens, temperature 0.5 seeded per row -- at the
            batch size ``steering.sizing`` picks from free memory (or --batch-size), rows ordered by
            prompt length as the provider's worker groups them;
  steering  tokens/s of one full batch steered (mixed alphas and methods) against the same batch
            unsteered (no hook), greedy, median of --repeats;
  floor     one decode step (greedy, from the 64- and 1-token timings) against the memory-bandwidth
            floor: weight bytes / measured device-to-device copy bandwidth.
Every row generates exactly --max-tokens tokens (the model's end-of-turn logit is pinned at 0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from steering import PROMPTS_DIR  # noqa: E402
from steering.generation import GenerationParams, Request, generate_in_batches  # noqa: E402
from steering.hooks import RowSteering  # noqa: E402
from steering.sizing import choose_batch_size  # noqa: E402
from steering.testing import GEMMA_2B_SAE_LAYER, build_gemma_2b_shaped, random_decoder  # noqa: E402

FEATURE = 12332


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(device: str, fn) -> tuple[float, object]:
    _sync(device)
    started = time.perf_counter()
    result = fn()
    _sync(device)
    return time.perf_counter() - started, result


def copy_bandwidth(device: str, megabytes: int = 1024) -> float:
    """Bytes per second a device-to-device copy moves, counting bytes read and written (median of 5)."""
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    times = [_timed(device, lambda: target.copy_(source))[0] for _ in range(5)]
    return 2 * source.numel() / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--alphas", type=int, default=20, help="points of linspace(-300, 300, N); 0 is added")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=None, help="default: steering.sizing's choice")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time one batch with compile=True")
    parser.add_argument(
        "--per-row-sampler", action="store_true", help="also time the sweep with the one-multinomial-per-row sampler"
    )
    parser.add_argument("--sweep-repeats", type=int, default=2, help="timed sweeps per sampler (at least 1)")
    parser.add_argument("--layers", type=int, default=None, help="fewer decoder layers: smoke runs only")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    device, dtype = args.device, getattr(torch, args.dtype)
    build_s, (model, tokenizer) = _timed(device, lambda: build_gemma_2b_shaped(device, dtype, layers=args.layers))
    print(f"built in {build_s:.1f} s", flush=True)
    parameters = sum(p.numel() for p in model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    direction = random_decoder(model.config.hidden_size, device="cpu")[FEATURE]
    lines = [json.loads(line) for line in (PROMPTS_DIR / "instructions.jsonl").read_text().splitlines() if line]
    prompts = [line["prompt"] for line in lines][: args.prompts]
    alphas = [0.0, *np.linspace(-300, 300, args.alphas).tolist()]
    methods = ["add", "add_renorm"]
    batch = args.batch_size or choose_batch_size(model, args.max_tokens)
    # the worker's length grouping: rows of one prompt (one length) share batches
    rows = [
        Request([{"role": "user", "content": p}], RowSteering(direction, a, m), seed=16)
        for p in sorted(prompts, key=len)
        for a in alphas
        for m in methods
    ]
    sampled = GenerationParams(max_new_tokens=args.max_tokens, temperature=0.5)
    greedy = GenerationParams(max_new_tokens=args.max_tokens)
    layer = min(GEMMA_2B_SAE_LAYER, model.config.num_hidden_layers - 1)

    def run(requests, params, size=batch, **kw):
        return generate_in_batches(model, tokenizer, requests, params, layer, size, score_unsteered=False, **kw)

    from steering import generation

    batched_sampler = generation.BatchedSeededSampler

    def sweep(per_row: bool) -> tuple[float, list]:
        generation.BatchedSeededSampler = generation.PerRowSampler if per_row else batched_sampler
        try:
            return _timed(device, lambda: run(rows, sampled))
        finally:
            generation.BatchedSeededSampler = batched_sampler

    # kernels warm at the full batch shape, with each sampler
    for per_row in {False, args.per_row_sampler}:
        generation.BatchedSeededSampler = generation.PerRowSampler if per_row else batched_sampler
        run(rows[:batch], GenerationParams(max_new_tokens=2, temperature=0.5))
        generation.BatchedSeededSampler = batched_sampler
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    print(f"sweep: {len(rows)} rows at batch {batch}", flush=True)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.sweep_repeats):  # alternating, so drift hits both samplers alike
        for per_row in [False, True] if args.per_row_sampler else [False]:
            elapsed, replies = sweep(per_row)
            times[per_row].append(elapsed)
            if not per_row:
                outputs = replies
            print(f"sweep ({'per-row' if per_row else 'batched'} sampler) took {times[per_row][-1]:.1f} s", flush=True)
    sweep_s = statistics.median(times[False])
    tokens = sum(o.output_tokens for o in outputs)
    peak_gib = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    errors = sum(o.error is not None for o in outputs)
    old_s = statistics.median(times[True]) if times[True] else None

    first = rows[:batch]
    plain = [Request(r.messages, None, r.seed) for r in first]
    steered_s = statistics.median(_timed(device, lambda: run(first, greedy))[0] for _ in range(args.repeats))
    unsteered_s = statistics.median(_timed(device, lambda: run(plain, greedy))[0] for _ in range(args.repeats))
    one = GenerationParams(max_new_tokens=1)
    one_s = statistics.median(_timed(device, lambda: run(plain, one))[0] for _ in range(args.repeats))
    step_s = (unsteered_s - one_s) / max(1, args.max_tokens - 1)
    bandwidth = copy_bandwidth(device)
    floor_s = weight_bytes / bandwidth

    result = {
        "model": "Gemma2Config() defaults, random weights (gemma-2-2b architecture)"
        + ("" if args.layers is None else f", cut to {args.layers} layers (smoke run)"),
        "attention": model.config._attn_implementation,
        "parameters": parameters,
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or "cpu",
        "dtype": args.dtype,
        "torch": torch.__version__,
        "build_s": build_s,
        "sweep": {
            "rows": len(rows),
            "prompts": len(prompts),
            "alphas": len(alphas),
            "methods": methods,
            "max_tokens": args.max_tokens,
            "temperature": 0.5,
            "batch_size": batch,
            "batch_size_rule": "steering.sizing" if args.batch_size is None else "--batch-size",
            "wall_s": sweep_s,
            "tokens": tokens,
            "tokens_per_s": tokens / sweep_s,
            "rows_with_errors": errors,
            "peak_memory_gib": peak_gib,
            "sampler": "BatchedSeededSampler (Gumbel-max, hashed per-row noise)",
            "wall_s_each": times[False],
            **({"per_row_sampler_wall_s": old_s, "per_row_sampler_wall_s_each": times[True]} if old_s else {}),
        },
        "steering_cost": {
            "batch_rows": len(first),
            "greedy_tokens": args.max_tokens,
            "steered_s": steered_s,
            "unsteered_s": unsteered_s,
            "steered_tokens_per_s": len(first) * args.max_tokens / steered_s,
            "unsteered_tokens_per_s": len(first) * args.max_tokens / unsteered_s,
            "steered_over_unsteered_time": steered_s / unsteered_s,
        },
        "bandwidth_floor": {
            "weight_bytes": weight_bytes,
            "copy_bandwidth_gb_s": bandwidth / 1e9,
            "floor_step_ms": floor_s * 1e3,
            "measured_step_ms": step_s * 1e3,
            "step_over_floor": step_s / floor_s,
        },
        "repeats": args.repeats,
    }
    _write(result, args.out)
    if args.compile:
        compile_first_s, compiled = _timed(device, lambda: run(first, greedy, compile=True))
        compile_s = statistics.median(
            _timed(device, lambda: run(first, greedy, compile=True))[0] for _ in range(args.repeats)
        )
        eager = run(first, greedy)
        result["compiled"] = {
            "first_batch_s (compiling)": compile_first_s,
            "batch_s": compile_s,
            "eager_batch_s": steered_s,
            "compiled_over_eager_time": compile_s / steered_s,
            "rows_with_eager_tokens": sum(a.token_ids == b.token_ids for a, b in zip(compiled, eager)),
            "rows": len(first),
        }
        _write(result, args.out)


def _write(result: dict, out: str | None) -> None:
    text = json.dumps(result, indent=2)
    print(text, flush=True)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")


if __name__ == "__main__":
    main()
