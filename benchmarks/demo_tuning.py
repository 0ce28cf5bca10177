"""How the offline demo's setting was chosen: french_share x coherence over layers, decoding and positions.

python benchmarks/demo_tuning.py --layers 10,12 --alphas 0,0.5,1.0 --temperature 0.7 --out results.jsonl
python benchmarks/demo_tuning.py --rescore benchmarks/results/demo_tuning.jsonl   # after a metric change

Generates with ``steering.generation`` directly (no Inspect, no judge) on SmolLM2-135M-Instruct with the
difference-of-means French direction, 10 neutral prompts, 48 tokens, seed 16 per row, and prints each
(layer, positions, method, alpha) cell's mean french_share, coherence and product of the two means, the
demo's objective. Each cell's replies are appended to the JSONL, so the figures can be recomputed.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from evals.metrics import coherence, french_fraction


def score(cell: dict) -> dict:
    french = [french_fraction(t) for t in cell["texts"]]
    coherent = [coherence(t) for t in cell["texts"]]
    mean_french, mean_coherence = sum(french) / len(french), sum(coherent) / len(coherent)
    return {**cell, "french": mean_french, "coherence": mean_coherence, "combined": mean_french * mean_coherence}


def show(cell: dict) -> None:
    print(
        f"layer {cell['layer']:>2} {cell['positions']:9} T={cell['temperature']:<4} {cell['method']:10} "
        f"alpha={cell['alpha']:<5} french={cell['french']:.2f} coherence={cell['coherence']:.2f} "
        f"combined={cell['combined']:.2f}"
    )


def generate_cells(args: argparse.Namespace) -> list[dict]:
    from evals.dataset import load_prompts
    from steering.directions import diff_of_means
    from steering.generation import GenerationParams, Request, generate_in_batches
    from steering.hooks import RowSteering
    from steering.models import load_model
    from steering.sources import load_contrast

    model, tokenizer = load_model("smollm2-135m-instruct", "cpu", "float32")
    positive, negative = load_contrast("french_english")
    prompts = load_prompts(None, args.n_prompts)
    params = GenerationParams(max_new_tokens=args.max_tokens, temperature=args.temperature or None)
    cells = []
    for layer in map(int, args.layers.split(",")):
        direction = diff_of_means(model, tokenizer, layer, positive, negative)
        for positions in args.positions.split(","):
            keys = list(itertools.product(args.methods.split(","), map(float, args.alphas.split(",")), prompts))
            requests = [
                Request([{"role": "user", "content": p["prompt"]}], RowSteering(direction, alpha, method), seed=16)
                for method, alpha, p in keys
            ]
            outputs = generate_in_batches(model, tokenizer, requests, params, layer, 40, positions)
            texts: dict[tuple[str, float], list[str]] = {}
            for (method, alpha, _), output in zip(keys, outputs):
                texts.setdefault((method, alpha), []).append(output.text)
            for (method, alpha), replies in texts.items():
                cell = {"layer": layer, "positions": positions, "temperature": args.temperature, "method": method}
                cells.append(score({**cell, "alpha": alpha, "texts": replies}))
                show(cells[-1])
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="10,12,15,20")
    parser.add_argument("--alphas", default="0,0.3,0.4,0.5,0.6,0.8,1.0")
    parser.add_argument("--methods", default="add,add_renorm")
    parser.add_argument("--positions", default="all")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--n-prompts", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--out", default=None, help="append each cell (with its replies) to this JSONL")
    parser.add_argument("--rescore", default=None, help="recompute the scores of a JSONL written by --out")
    args = parser.parse_args()
    if args.rescore:
        cells = [score(json.loads(line)) for line in Path(args.rescore).read_text().splitlines() if line.strip()]
        for cell in cells:
            show(cell)
    else:
        cells = generate_cells(args)
    best: dict[tuple, dict] = {}
    for cell in cells:
        key = (cell["layer"], cell["positions"], cell["temperature"])
        if key not in best or cell["combined"] > best[key]["combined"]:
            best[key] = cell
    print("\nbest cell per (layer, positions, temperature):")
    for cell in best.values():
        show(cell)
    if args.out and not args.rescore:
        with open(args.out, "a") as file:
            for cell in cells:
                file.write(json.dumps(cell, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
