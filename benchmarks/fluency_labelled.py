"""The offline fluency check on its labelled set: mean per class, kind and language, AUC, and coherence beside it.

python benchmarks/fluency_labelled.py  (prints a table; the README and docs/metrics.md quote it)
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from evals.analysis.stats import auc
from evals.metrics import coherence, fluency_reports

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
FILES = ("fluency_labelled.jsonl", "labelled_replies.jsonl")


def main() -> None:
    rows = [json.loads(line) for name in FILES for line in (DATA / name).open()]
    reports = fluency_reports([r["text"] for r in rows], [r.get("prompt") for r in rows])
    groups: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for row, report in zip(rows, reports):
        entry = (report.value, coherence(row["text"]), report.nll)
        groups[row["label"]].append(entry)
        groups[f"{row['label']} {row['kind']}"].append(entry)
        if row["label"] == "fluent":
            groups[f"fluent {row['language']}"].append(entry)
    print(f"{'group':32} {'n':>3} {'fluency':>8} {'coherence':>9} {'nll':>6} {'min fl':>6} {'max fl':>6}")
    for name in sorted(groups):
        values = groups[name]
        mean = [sum(v[i] for v in values) / len(values) for i in range(3)]
        print(f"{name:32} {len(values):3d} {mean[0]:8.2f} {mean[1]:9.2f} {mean[2]:6.2f} "
              f"{min(v[0] for v in values):6.2f} {max(v[0] for v in values):6.2f}")  # fmt: skip
    fluent, bad = groups["fluent"], groups["degenerate"]
    print(f"AUC fluent vs degenerate: fluency {auc([v[0] for v in fluent], [v[0] for v in bad]):.3f}, "
          f"coherence {auc([v[1] for v in fluent], [v[1] for v in bad]):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
