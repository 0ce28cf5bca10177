"""How the offline demo's setting was chosen: french_share x coherence over layers, decoding and positions.

python benchmarks/demo_tuning.py --model gemma-3-270m --layers 6,9,12 --temperature 0.7 --out results.jsonl
python benchmarks/demo_tuning.py --model smollm2-135m-instruct --prompts instructions --cues "Answer in French."
python benchmarks/demo_tuning.py --rescore benchmarks/results/demo_tuning_gemma3.jsonl   # after a metric change

Generates with ``steering.generation`` directly (no Inspect, no judge) with the difference-of-means French
direction, 10 prompts, 48 tokens, seed 16 per row, and prints each (layer, positions, method, alpha) cell's
mean french_share, coherence and product of the two means, the demo's objective. Each prompting cue (the
prompting reference: an instruction appended, or a template with ``{prompt}``) is a cell of its own with
method "prompting". Each cell's replies are appended to the JSONL, so the figures can be recomputed.
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


def cue_prompt(cue: str, prompt: str) -> str:
    from steering.prompting import with_instruction

    return with_instruction(prompt, cue)


def shipped_prompts(name: str) -> str:
    from steering import shipped_file

    return str(shipped_file(name, ".", ".jsonl", "prompt file"))


def show(cell: dict) -> None:
    where = f"layer {cell['layer']:>2} {cell['positions']:9}" if cell.get("layer") is not None else "prompting   "
    if cell.get("cue"):
        where += f" cue={cell['cue'][:40]!r}"
    print(
        f"{where} T={cell['temperature']:<4} {cell['method']:10} "
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

    model, tokenizer = load_model(args.model, "cpu", "float32")
    positive, negative = load_contrast("french_english")
    prompts = load_prompts(shipped_prompts(args.prompts), args.n_prompts)
    params = GenerationParams(max_new_tokens=args.max_tokens, temperature=args.temperature or None)
    chat = args.chat == "true"
    base = {"model": args.model, "prompts": args.prompts, "temperature": args.temperature}
    cells = []
    for cue in args.cues:
        requests = [
            Request([{"role": "user", "content": cue_prompt(cue, p["prompt"])}], seed=16, chat=chat) for p in prompts
        ]
        outputs = generate_in_batches(model, tokenizer, requests, params, 0, 40, "all")
        cell = {**base, "layer": None, "positions": None, "method": "prompting", "alpha": 0.0, "cue": cue}
        cells.append(score({**cell, "texts": [o.text for o in outputs]}))
        show(cells[-1])
    for layer in map(int, args.layers.split(",")):
        direction = diff_of_means(model, tokenizer, layer, positive, negative)
        for positions in args.positions.split(","):
            keys = list(itertools.product(args.methods.split(","), map(float, args.alphas.split(",")), prompts))
            requests = [
                Request([{"role": "user", "content": p["prompt"]}], RowSteering(direction, alpha, method), 16, chat)
                for method, alpha, p in keys
            ]
            outputs = generate_in_batches(model, tokenizer, requests, params, layer, 40, positions)
            texts: dict[tuple[str, float], list[str]] = {}
            for (method, alpha, _), output in zip(keys, outputs):
                texts.setdefault((method, alpha), []).append(output.text)
            for (method, alpha), replies in texts.items():
                cell = {**base, "layer": layer, "positions": positions, "method": method}
                cells.append(score({**cell, "alpha": alpha, "texts": replies}))
                show(cells[-1])
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="an embedded model name, hub id or folder")
    parser.add_argument("--prompts", default="openers", help="a prompts/*.jsonl name or path")
    parser.add_argument("--chat", choices=["true", "false"], default="false", help="format with the chat template")
    parser.add_argument("--cues", nargs="*", default=[], help="prompting cues (appended, or templates with {prompt})")
    parser.add_argument("--layers", default="6,9,12")
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
        key = (cell.get("model"), cell["layer"], cell["positions"], cell["temperature"], cell.get("cue"))
        if key not in best or cell["combined"] > best[key]["combined"]:
            best[key] = cell
    print("\nbest cell per (model, layer, positions, temperature, cue):")
    for cell in best.values():
        show(cell)
    if args.out and not args.rescore:
        with open(args.out, "a") as file:
            for cell in cells:
                file.write(json.dumps(cell, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
