"""The whole sweep, judges included, against generation alone: does judge latency starve the generator?

python benchmarks/sweep.py --model smollm2 --latency 0.8 --repeats 3
python benchmarks/sweep.py --model smollm2 --latency 0.8 --connections 32 --out ...  # the old 2 x batch_size
python benchmarks/sweep.py --model tiny --latency 0.8 --repeats 1      # a quick smoke run

Runs one sweep through Inspect twice, side by side in one process: (a) generation plus both LLM
judges, answered by the offline stub grader after ``--latency`` seconds (+- ``--jitter``), like an
API; (b) the same sweep with the judges off. Reports each run's wall time (median of repeats),
their ratio, the mean fill of the generation batches (rows per batch / batch_size, read from the
logged model calls) and the most grader calls and generate calls in flight at once. Nothing is read from a cache here.
A last judged run with ``-M share=false`` gives the work before the dedupe: steered generations and grader
requests with and without identical requests sharing one (evals.analysis.work).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _batch_fill(log, batch_size: int) -> tuple[float, int]:
    rows = [
        event.call.response["batch_rows"]
        for sample in log.samples
        for event in sample.events
        if event.event == "model" and event.model.startswith("steered/") and event.call is not None
    ]
    # each batch is seen once per row it holds: weight by batch, not by row
    batches = sum(1 / r for r in rows)
    return (len(rows) / batches) / batch_size if rows else float("nan"), round(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "smollm2"], default="smollm2")
    parser.add_argument("--latency", type=float, default=0.8, help="seconds per grader call")
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--connections", type=int, default=None, help="samples in flight (default: the provider's, 4 x batch_size)"
    )
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/results/sweep-<model>-cpu.json)")
    args = parser.parse_args()

    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model
    from throughput import _smollm2, _tiny_fixture

    from evals.analysis.work import work_counts
    from evals.judge import criteria
    from evals.stub_grader import InFlight
    from evals.sweep import sweep_task
    from steering.provider.model_api import SteeredModelAPI

    root = Path(os.environ.get("STEERING_CACHE", Path(tempfile.gettempdir()) / "steering-bench"))
    setup = _tiny_fixture(root / "fixtures") if args.model == "tiny" else _smollm2()
    model_args = {**setup["model_args"], "batch_size": args.batch_size}
    grader = get_model("stubgrader/length", latency=args.latency, jitter=args.jitter)

    def run(judge: bool, share: bool = True) -> dict:
        task = sweep_task(
            name="sweep_bench",
            criterion=criteria()["french"],
            feature=setup["feature"],
            vector=setup["vector"],
            alphas=[0.0, *setup["alphas"]],
            methods="add,add_renorm",
            n_prompts=args.prompts,
            judge=judge,
            max_tokens=args.max_tokens,
            temperature=0.0,
            cache=False,
        )
        InFlight.reset()
        SteeredModelAPI.in_flight = SteeredModelAPI.peak_in_flight = 0
        # a fresh cache per run: cached grades (or generations) would hide the latency being measured
        os.environ["INSPECT_CACHE_DIR"] = tempfile.mkdtemp(prefix="sweep-bench-cache-")
        started = time.perf_counter()
        (log,) = inspect_eval(
            task,
            model=f"steered/{setup['model']}",
            model_args={**model_args, "share": share},
            model_roles={"grader": grader},
            max_connections=args.connections,
            log_dir=str(root / "sweep-logs"),
            display="none",
        )
        wall = time.perf_counter() - started
        assert log.status == "success", log.error
        fill, batches = _batch_fill(log, args.batch_size)
        work = work_counts(log)
        return {
            "generations": work.generations,
            "generations_shared": work.generations_shared,
            "grader_requests": work.grader_requests,
            "grader_shared": work.grader_shared,
            "wall_s": wall,
            "batch_fill": fill,
            "batches": batches,
            "grader_peak_in_flight": InFlight.peak,
            "steered_peak_in_flight": SteeredModelAPI.peak_in_flight,
        }

    results: dict[str, list[dict]] = {"judged": [], "generation_only": []}
    run(judge=False)  # warm-up: load the weights and build the direction outside the timings
    for _ in range(args.repeats):
        results["generation_only"].append(run(judge=False))
        results["judged"].append(run(judge=True))
    results["judged_without_sharing"] = [run(judge=True, share=False)]

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    summary = {
        "model": args.model,
        "samples": args.prompts * (len(setup["alphas"]) + 1) * 2,
        "max_tokens": args.max_tokens,
        "batch_size": args.batch_size,
        "samples_in_flight_setting": args.connections or "provider default (4 x batch_size)",
        "steered_peak_in_flight": median("judged", "steered_peak_in_flight"),
        "grader_latency_s": args.latency,
        "grader_jitter_s": args.jitter,
        "repeats": args.repeats,
        "judged_wall_s": median("judged", "wall_s"),
        "generation_only_wall_s": median("generation_only", "wall_s"),
        "ratio_judged_over_generation_only": statistics.median(
            j["wall_s"] / g["wall_s"] for j, g in zip(results["judged"], results["generation_only"])
        ),
        "judged_batch_fill": median("judged", "batch_fill"),
        "generation_only_batch_fill": median("generation_only", "batch_fill"),
        "grader_peak_in_flight": median("judged", "grader_peak_in_flight"),
        "generations_with_sharing": median("judged", "generations"),
        "generations_without_sharing": median("judged_without_sharing", "generations"),
        "grader_requests_with_sharing": median("judged", "grader_requests"),
        "grader_requests_without_sharing": median("judged_without_sharing", "grader_requests"),
        "grader_requests_joined": median("judged", "grader_shared"),
        "judged_wall_s_without_sharing": median("judged_without_sharing", "wall_s"),
        "runs": results,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"sweep-{args.model}-cpu.json")
    out.write_text(json.dumps(summary, indent=2) + "\n")
    for key, value in summary.items():
        if key not in ("runs", "machine"):
            print(f"{key:36} {value:.3f}" if isinstance(value, float) else f"{key:36} {value}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
