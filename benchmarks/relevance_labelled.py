"""The offline relevance check on its labelled set: matched (prompt, reply) pairs against the same replies under
other prompts and fluent replies written off the topic; AUC in sample and with the constants fitted on held-out
folds (a reply's pairs in one fold).

python benchmarks/relevance_labelled.py                     (prints the tables; README and docs/metrics.md quote them)
python benchmarks/relevance_labelled.py --build LOG... --off-topic FILE   (rewrites tests/data/relevance_labelled.jsonl)
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from evals.analysis.stats import auc
from evals.metrics.calibration import FOLDS
from evals.metrics.relevance import (
    CENTRE,
    WIDTH,
    fit_constants,
    held_out_relevance,
    labelled_pairs,
    relevance_reports,
)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "relevance_labelled.jsonl"
# per demo log: (method, alpha) cells whose replies are taken, one per prompt each
CELLS = {
    "gemma-3-270m": [("add", 0.0), ("add_renorm", 1.5), ("add", 1.0), ("prompting", 0.0)],
    "smollm2-135m-instruct": [("add_renorm", 0.0), ("add_renorm", 0.5), ("prompting", 0.0)],
}
PER_CELL = 10


def build(logs: list[str], off_topic: str) -> list[dict]:
    from inspect_ai.log import read_eval_log

    from evals.metrics import sentence_language

    rows = []
    for path in logs:
        log = read_eval_log(path)
        model = log.eval.model.removeprefix("steered/")
        samples = sorted(log.samples, key=lambda s: s.metadata["prompt_id"])
        for method, alpha in CELLS[model]:
            cell = [s for s in samples if (s.metadata["method"], s.metadata["alpha"]) == (method, alpha)]
            for sample in cell[:PER_CELL]:
                reply = sample.output.completion
                rows.append({
                    "source": model, "kind": "unsteered" if alpha == 0 and method != "prompting" else method,
                    "alpha": alpha, "language": sentence_language(reply) or "-", "prompt": sample.input,
                    "reply": reply, "matched": True,
                })  # fmt: skip
    for prompt, reply in json.loads(Path(off_topic).read_text()):
        language = "fr" if any(ch in reply for ch in "éèàç") else "en"
        rows.append({"source": "hand", "kind": "off_topic", "alpha": None, "language": language, "prompt": prompt,
                     "reply": reply, "matched": False})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", nargs="*", help="demo logs to take matched replies from")
    parser.add_argument("--off-topic", help="JSON list of [prompt, fluent reply off its topic]")
    args = parser.parse_args()
    if args.build:
        rows = build(args.build, args.off_topic)
        DATA.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        print(f"wrote {len(rows)} rows to {DATA}")
    rows = [json.loads(line) for line in DATA.open()]
    pairs = labelled_pairs(rows)
    reports = relevance_reports([p["reply"] for p in pairs], [p["prompt"] for p in pairs])
    gains = [r.gain for r in reports]
    matched = [p["matched"] for p in pairs]
    print(
        f"# {len(pairs)} pairs, {sum(matched)} matched; in sample: the shipped constants CENTRE {CENTRE}, WIDTH {WIDTH}"
    )
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for pair, report in zip(pairs, reports):
        groups[f"{pair['source']:22} {pair['kind']}"].append((report.value, report.gain))
    print(f"{'group':52} {'n':>3} {'relevance':>9} {'gain':>6} {'min':>5} {'max':>5}")
    for name in sorted(groups):
        values = np.array(groups[name])
        print(f"{name:52} {len(values):3d} {values[:, 0].mean():9.2f} {values[:, 1].mean():+6.2f} "
              f"{values[:, 0].min():5.2f} {values[:, 0].max():5.2f}")  # fmt: skip
    good = [g for g, m in zip(gains, matched) if m]
    bad = [g for g, m in zip(gains, matched) if not m]
    print(f"AUC matched vs mismatched (gain): {auc(good, bad):.3f}")
    centre, width = fit_constants(gains, matched)
    print(f"all-data fit: CENTRE {centre:.3f}, WIDTH {width:.3f}")
    scores, constants = held_out_relevance(gains, matched, [p["group"] for p in pairs])
    print(
        f"\n# held out: constants fitted on {FOLDS - 1} of {FOLDS} folds, a reply's pairs together, read on the fifth"
    )
    print("fold constants: " + ", ".join(f"({c:.3f}, {w:.3f})" for c, w in constants))
    held_good = [s for s, m in zip(scores, matched) if m]
    held_bad = [s for s, m in zip(scores, matched) if not m]
    print(f"held-out AUC {auc(held_good, held_bad):.3f}; mean relevance matched {np.mean(held_good):.2f}, "
          f"mismatched {np.mean(held_bad):.2f}")  # fmt: skip
    for source in sorted({p["source"] for p in pairs} - {"hand"}):
        mine = [i for i, p in enumerate(pairs) if p["source"] in (source, "hand")]
        good = [scores[i] for i in mine if matched[i]]
        bad = [scores[i] for i in mine if not matched[i]]
        print(f"  {source} (with the hand-written replies): held-out AUC {auc(good, bad):.3f}")


if __name__ == "__main__":
    main()
