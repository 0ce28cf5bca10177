"""The offline fluency check on its labelled set: mean per class, kind and language, AUC, and coherence beside it;
then the same figures held out: the two constants (CENTRE, WIDTH) fitted on four fifths of the replies and the
score read on the fifth left out (stratified 5-fold), so the AUC is not measured on what it was fitted on.

python benchmarks/fluency_labelled.py  (prints the tables; the README and docs/metrics.md quote them)
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from evals.analysis.stats import auc
from evals.metrics import coherence, fluency_reports
from evals.metrics.calibration import FOLDS
from evals.metrics.fluency_check import CENTRE, WIDTH, fit_constants, held_out_fluency

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
FILES = ("fluency_labelled.jsonl", "labelled_replies.jsonl")


def table(rows: list[dict], values: list[float], words: list[float], nll: list[float]) -> dict[str, list]:
    groups: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for row, value, word, loss in zip(rows, values, words, nll):
        entry = (value, word, loss)
        groups[row["label"]].append(entry)
        groups[f"{row['label']} {row['kind']}"].append(entry)
        if row["label"] == "fluent":
            groups[f"fluent {row['language']}"].append(entry)
    print(f"{'group':32} {'n':>3} {'fluency':>8} {'coherence':>9} {'nll':>6} {'min fl':>6} {'max fl':>6}")
    for name in sorted(groups):
        group = groups[name]
        mean = [float(np.nanmean([v[i] for v in group])) for i in range(3)]
        print(f"{name:32} {len(group):3d} {mean[0]:8.2f} {mean[1]:9.2f} {mean[2]:6.2f} "
              f"{min(v[0] for v in group):6.2f} {max(v[0] for v in group):6.2f}")  # fmt: skip
    return groups


def main() -> None:
    rows = [json.loads(line) for name in FILES for line in (DATA / name).open()]
    reports = fluency_reports([r["text"] for r in rows], [r.get("prompt") for r in rows])
    words = [report.coherence.value for report in reports]
    nll = [report.nll for report in reports]
    labels = [row["label"] for row in rows]
    print(f"# in sample: the shipped constants CENTRE {CENTRE}, WIDTH {WIDTH}")
    groups = table(rows, [report.value for report in reports], words, nll)
    fluent, bad = groups["fluent"], groups["degenerate"]
    plain = [coherence(row["text"]) for row in rows]
    good = [value for value, label in zip(plain, labels) if label == "fluent"]
    other = [value for value, label in zip(plain, labels) if label != "fluent"]
    print(f"AUC fluent vs degenerate: fluency {auc([v[0] for v in fluent], [v[0] for v in bad]):.3f}, "
          f"coherence {auc(good, other):.3f}")  # fmt: skip
    centre, width = fit_constants(words, nll, [label == "fluent" for label in labels])
    print(f"all-data fit: CENTRE {centre:.2f}, WIDTH {width:.2f}")
    print(f"\n# held out: constants fitted on {FOLDS - 1} of {FOLDS} stratified folds, scored on the fifth")
    scores, constants = held_out_fluency(words, nll, [label == "fluent" for label in labels])
    print("fold constants: " + ", ".join(f"({c:.2f}, {w:.2f})" for c, w in constants))
    groups = table(rows, list(scores), words, nll)
    fluent, bad = groups["fluent"], groups["degenerate"]
    print(f"held-out AUC fluent vs degenerate: {auc([v[0] for v in fluent], [v[0] for v in bad]):.3f}")


if __name__ == "__main__":
    main()
