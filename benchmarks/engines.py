"""The HF engine against the vLLM engine on the demo's sweep, side by side on one machine.

python benchmarks/engines.py [--repeats 3] [--out benchmarks/results/engines-cpu.json]

The demo's 210 requests (10 openers x 10 alphas x add/add_renorm, plus the 10 prompted rows), Gemma 3 270M,
layer 6, its difference-of-means French direction, 48 new tokens at temperature 0.7 seeded per prompt, float32.
Timed: the requests through each engine alone (no Inspect, no scorers, no request sharing: every row generates),
the HF engine at the demo's batch of 16 and at 64 rows, vLLM with every request submitted at once, and vLLM with
the same requests unsteered. Tokens counted are the ones generated (a reply may end early). Medians of --repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import wait
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def demo_requests(steered: bool = True) -> tuple[list, object]:
    from evals.dataset import load_prompts
    from evals.demo import DEMO_SEED, DEMO_TEMPERATURE, DEMOS
    from steering import PROMPTS_DIR
    from steering.directions import diff_of_means
    from steering.generation import GenerationParams, Request
    from steering.hooks import RowSteering
    from steering.models import load_model
    from steering.sampling import prompt_seed
    from steering.sources import load_contrast

    setting = DEMOS["gemma3"]
    model, tokenizer = load_model(setting.model, "cpu", "float32")
    direction = diff_of_means(model, tokenizer, setting.layer, *load_contrast("french_english")).cpu()
    requests = []
    for row in load_prompts(PROMPTS_DIR / setting.prompts, limit=10):
        messages = [{"role": "user", "content": row["prompt"]}]
        seed = prompt_seed(DEMO_SEED, messages)
        for method in ("add", "add_renorm"):
            for alpha in setting.alphas:
                steering = RowSteering(direction, alpha, method) if steered else None
                requests.append(Request(messages, steering, seed, chat=False))
        cue = [{"role": "user", "content": setting.instruction.format(prompt=row["prompt"])}]
        requests.append(Request(cue, None, prompt_seed(DEMO_SEED, cue), chat=False))
    return requests, GenerationParams(max_new_tokens=48, temperature=DEMO_TEMPERATURE)


def time_hf(requests: list, params: object, batch_size: int) -> tuple[float, int]:
    from evals.demo import DEMOS
    from steering.generation import generate_in_batches
    from steering.models import load_model

    model, tokenizer = load_model(DEMOS["gemma3"].model, "cpu", "float32")
    started = time.perf_counter()
    outputs = generate_in_batches(model, tokenizer, requests, params, DEMOS["gemma3"].layer, batch_size)
    return time.perf_counter() - started, sum(o.output_tokens for o in outputs)


def time_vllm(generator: object, requests: list, params: object) -> tuple[float, int]:
    started = time.perf_counter()
    futures = [generator.submit(r, params) for r in requests]
    wait(futures)
    return time.perf_counter() - started, sum(f.result()[0].output_tokens for f in futures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/engines-cpu.json")
    parser.add_argument("--skip-hf16", action="store_true", help="leave out the HF engine at batch 16 (slowest case)")
    args = parser.parse_args()

    from evals.demo import DEMOS
    from steering.engines.vllm_engine import VllmGenerator, VllmSettings, shared_engine
    from steering.models import load_model, resolve_model_path

    steered, params = demo_requests()
    unsteered, _ = demo_requests(steered=False)
    started = time.perf_counter()
    engine = shared_engine(resolve_model_path(DEMOS["gemma3"].model), "float32", VllmSettings())
    description = engine.wait_ready()
    engine_start = time.perf_counter() - started
    tokenizer = load_model(DEMOS["gemma3"].model, "cpu", "float32")[1]
    generator = VllmGenerator(engine, tokenizer, DEMOS["gemma3"].layer)
    time_vllm(generator, steered[:8], params)  # warm-up

    cases = {
        "vllm_steered": lambda: time_vllm(generator, steered, params),
        "vllm_unsteered": lambda: time_vllm(generator, unsteered, params),
        "hf_batch64_steered": lambda: time_hf(steered, params, 64),
    }
    if not args.skip_hf16:
        cases["hf_batch16_steered"] = lambda: time_hf(steered, params, 16)
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for repeat in range(args.repeats):
        for name, case in cases.items():  # interleaved, so drift on a noisy machine hits every case alike
            seconds, tokens = case()
            runs[name].append({"seconds": seconds, "tokens": tokens, "tok_s": tokens / seconds})
            print(f"repeat {repeat + 1} {name}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tok/s")
        write(args.out, runs, description, engine_start, repeat + 1)  # a stopped run keeps its finished repeats
    engine.stop()


def write(out: str, runs: dict[str, list[dict]], description: dict, engine_start: float, repeats: int) -> None:
    medians = {name: statistics.median(r["tok_s"] for r in rows) for name, rows in runs.items()}
    ratios = {
        "vllm_over_hf_batch64": medians["vllm_steered"] / medians["hf_batch64_steered"],
        "vllm_steered_over_unsteered": medians["vllm_steered"] / medians["vllm_unsteered"],
    }
    if "hf_batch16_steered" in medians:
        ratios["vllm_over_hf_batch16"] = medians["vllm_steered"] / medians["hf_batch16_steered"]
    result = {
        "what": "the demo's 210 requests x 48 tokens, Gemma 3 270M float32, temperature 0.7, layer 6 diff-of-means",
        "command": "python benchmarks/engines.py",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "engine": description,
        "engine_start_seconds": engine_start,
        "median_tok_s": medians,
        "ratios": ratios,
        "repeats_finished": repeats,
        "runs": runs,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"median_tok_s": medians, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
