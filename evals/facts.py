"""An offline capability task: 60 short factual questions whose answers read the same in French and English.

It is a stand-in for MMLU-style benchmarks that the offline models can partly solve (Gemma 3 270M, a base
model, answers about half unsteered), so the capability tax of steering can be measured without a GPU:

inspect eval evals/facts.py --model steered/gemma-3-270m -M chat_template=false -M layer=6 \
  -M vector=diff_of_means -M alpha=1.0

Answers are names, years and numbers (Tokyo, Einstein, 1945), with the French spelling accepted where it
differs (Moscou, Pacifique), so a reply steered into French is not marked wrong for its language.
Scored with Inspect's own ``match`` (anywhere in the reply; numbers compared as numbers).
"""

from __future__ import annotations

import json
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import match
from inspect_ai.solver import generate

from evals.args import refuse_unknown
from steering import PROMPTS_DIR
from steering.provider.errors import user_errors

FACTS = PROMPTS_DIR / "capability" / "facts.jsonl"
SHOTS = (
    "Q: What is the capital of Italy?\nA: Rome\n\n"
    "Q: How many legs does a spider have?\nA: 8\n\n"
    "Q: Who wrote Hamlet?\nA: Shakespeare\n\n"
)
"""Three worked answers, so a base model answers in the same short form."""


def facts_dataset(n: int | None = None) -> MemoryDataset:
    records = [json.loads(line) for line in FACTS.read_text().splitlines() if line.strip()]
    if n is not None:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(records):
            raise ValueError(f"n must be an integer from 1 to {len(records)}, got {n!r}")
        records = records[:n]
    return MemoryDataset(
        [Sample(id=r["id"], input=f"{SHOTS}Q: {r['question']}\nA:", target=r["answer"]) for r in records],
        name="facts",
    )


@task
@user_errors
def facts(n: int | None = None, max_tokens: int = 10, **unknown: Any) -> Task:
    """Short factual answers, greedy, cut at the first line break; accuracy with its standard error.

    Args:
        n: the first n questions (all 60 by default).
        max_tokens: new tokens per answer.
    """
    refuse_unknown(facts, unknown)
    return Task(
        dataset=facts_dataset(n),
        solver=generate(),
        scorer=match(location="any", numeric=True),
        config=GenerateConfig(max_tokens=max_tokens, temperature=0.0, stop_seqs=["\n"]),
    )
