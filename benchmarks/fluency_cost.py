"""What the offline fluency check costs: seconds per 1,000 replies of 48 tokens, bfloat16 against float32.

python benchmarks/fluency_cost.py [--replies 1000] [--repeats 3] [--float32-repeats 1] [--out ...json]

Replies are the labelled set's passages cut or repeated to exactly 48 Gemma 3 tokens, each read after a
demo opener ("I think", ...), scored in one call of ``fluency_reports`` (batched as the scorer batches).
Medians of ``--repeats`` runs (``--float32-repeats`` for the slower float32), both dtypes timed in one
process; the float32 run also checks how much bfloat16 moves the NLL (mean and max difference, nats).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import evals.metrics.likelihood as likelihood
from evals.metrics import fluency_reports
from evals.metrics.likelihood import load_reference

ROOT = Path(__file__).resolve().parents[1]
TOKENS = 48


def replies(n: int) -> tuple[list[str], list[str]]:
    _, tokenizer = load_reference()
    rows = [json.loads(line) for name in ("fluency_labelled.jsonl", "labelled_replies.jsonl")
            for line in (ROOT / "tests" / "data" / name).open()]  # fmt: skip
    openers = [json.loads(line)["prompt"] for line in (ROOT / "prompts" / "openers.jsonl").open()]
    texts, prompts = [], []
    for i in range(n):
        ids = tokenizer(" " + rows[i % len(rows)]["text"], add_special_tokens=False).input_ids
        while len(ids) < TOKENS:
            ids = ids + ids
        texts.append(tokenizer.decode(ids[:TOKENS]))
        prompts.append(openers[i % len(openers)])
    return texts, prompts


def timed(texts: list[str], prompts: list[str], dtype: str, repeats: int) -> tuple[float, list]:
    likelihood.reference_dtype = lambda device: dtype  # the benchmark's switch; the metric always uses bfloat16
    fluency_reports(texts[:8], prompts[:8])  # load and warm up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        reports = fluency_reports(texts, prompts)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--float32-repeats", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fluency-cost-cpu.json"))
    args = parser.parse_args()
    texts, prompts = replies(args.replies)
    bf16, bf16_reports = timed(texts, prompts, "bfloat16", args.repeats)
    fp32, fp32_reports = timed(texts, prompts, "float32", args.float32_repeats)
    nll_gap = [abs(a.nll - b.nll) for a, b in zip(bf16_reports, fp32_reports)]
    value_gap = [abs(a.value - b.value) for a, b in zip(bf16_reports, fp32_reports)]
    result = {
        "replies": args.replies,
        "tokens_per_reply": TOKENS,
        "repeats": {"bfloat16": args.repeats, "float32": args.float32_repeats},
        "seconds_per_1000_bfloat16": 1000 * bf16 / args.replies,
        "seconds_per_1000_float32": 1000 * fp32 / args.replies,
        "float32_over_bfloat16": fp32 / bf16,
        "mean_abs_nll_difference": statistics.fmean(nll_gap),
        "max_abs_nll_difference": max(nll_gap),
        "max_abs_fluency_difference": max(value_gap),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
