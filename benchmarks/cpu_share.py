"""What scoring after generation saves on a CPU: the offline suite's wall time with the reference scorers
waiting for the steered engine (steering.cpu_share, the default) against scoring as replies arrive.

python benchmarks/cpu_share.py [--languages 3] [--repeats 1] [--out benchmarks/results/cpu-share-cpu.json]

Each run is a fresh process (its own vLLM engine start and model loads, Inspect's cache off) of
``evals.suite.run`` on the first ``--languages`` languages of prompts/concepts/languages.jsonl; the two
modes alternate, medians of ``--repeats``. Replies are the same in both modes (seeded per row); the
script checks that the two runs' logs hold the same completions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import sys
from pathlib import Path
if sys.argv[1] == "concurrent":
    import evals.metrics.batching as batching
    async def at_once(on_cpu):
        return None
    batching.after_cpu_generation = at_once
from evals.suite import run
run(Path(sys.argv[2]), concepts=sys.argv[3], cache=False, display="none")
"""


def completions(logs: Path) -> dict[str, str]:
    from inspect_ai.log import read_eval_log

    (log,) = sorted(logs.glob("*.eval"))
    return {str(s.id): s.output.completion for s in read_eval_log(str(log)).samples or []}


def timed(mode: str, concepts: Path, work: Path) -> tuple[float, dict[str, str]]:
    out = Path(tempfile.mkdtemp(dir=work))
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", RUN, mode, str(out), str(concepts)], cwd=ROOT, check=True)
    return time.monotonic() - started, completions(out / "logs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cpu-share-cpu.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cpu-share-"))
    concepts = work / "languages.jsonl"
    lines = (ROOT / "prompts" / "concepts" / "languages.jsonl").read_text().splitlines()[: args.languages]
    concepts.write_text("\n".join(lines) + "\n")
    seconds: dict[str, list[float]] = {"concurrent": [], "after_generation": []}
    replies: dict[str, dict[str, str]] = {}
    for _ in range(args.repeats):
        for mode in seconds:
            wall, replies[mode] = timed(mode, concepts, work)
            seconds[mode].append(wall)
            print(f"{mode}: {wall:.0f} s", flush=True)
    same = replies["concurrent"] == replies["after_generation"]
    medians = {mode: statistics.median(values) for mode, values in seconds.items()}
    result = {
        "what": f"python -m evals.suite on {args.languages} languages (10 openers, add_renorm 0/1/1.5/2, 32 tokens)",
        "samples": len(replies["after_generation"]),
        "seconds": seconds,
        "median_seconds": medians,
        "concurrent_over_after_generation": medians["concurrent"] / medians["after_generation"],
        "same_replies": same,
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not same:
        sys.exit("the two modes gave different replies")


if __name__ == "__main__":
    main()
