"""The SAE-TS paper's evaluation, as its authors ran it, beside this project's own protocol.

Base gemma-2-2b steered at layer 12 (Gemma Scope 16k, average L0 82), continuations of "I think" with no
chat template, 256 samples per scale at scales 0, 20, ..., 300, 30 new tokens (temperature 1, top-k 50), each
completion graded by gpt-4o-mini at temperature 0 with the authors' score-only JSON prompt, word for word, for
the behaviour and for coherence; the figure is the maximum over scales of mean(behaviour') x mean(coherence'),
grades normalised as (g - 1) / 9 (prompts/sae_ts/paper.json says where each setting comes from).

inspect eval evals/sae_ts_paper.py --model-role grader=openai/gpt-4o-mini
"""

from __future__ import annotations

import asyncio
import json
import math
from functools import cache
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, Model, get_model
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, Value, metric, scorer
from inspect_ai.solver import TaskState

from evals.analysis.stats import best_cell, product_of_means
from evals.args import parse_bool, parse_int, parse_vectors, refuse_unknown
from evals.dataset import steering_samples
from evals.judge import parse_grade
from evals.scorers import JUDGE_CONNECTIONS
from evals.solvers import steer
from steering import PROMPTS_DIR
from steering.provider.errors import user_errors
from steering.spec import check_targets, parse_targets, targets_label

PAPER_FILE = PROMPTS_DIR / "sae_ts" / "paper.json"
CRITERIA = ("behavior", "coherence")


@cache
def paper() -> dict[str, Any]:
    return json.loads(PAPER_FILE.read_text())


def paper_scales() -> list[float]:
    start, stop, step = paper()["scales"]
    return [float(s) for s in range(start, stop + step, step)]


def paper_messages(criterion: str, prompt: str, completion: str) -> tuple[str, str]:
    """(system, user) exactly as the authors' ``evaluate_completion`` builds them (verbose off)."""
    spec = paper()
    prompt_block = spec["judge_prompt_block"].format(prompt=prompt) if prompt else ""
    return (
        spec["judge_system"].replace("{criterion}", criterion),
        prompt_block + spec["judge_completion_block"].replace("{completion}", completion),
    )


def paper_grader_config(grader: Model) -> GenerateConfig:
    """Temperature 0, 150 tokens; OpenAI graders also get the authors' ``response_format`` json_object."""
    json_mode = {"response_format": {"type": "json_object"}} if str(grader).startswith("openai/") else None
    return GenerateConfig(
        temperature=0.0,
        max_tokens=paper()["grader_max_tokens"],
        extra_body=json_mode,
        adaptive_connections=JUDGE_CONNECTIONS,
    )


@metric
def max_product() -> Metric:
    """The paper's figure per vector: max over scales of mean(behaviour') x mean(coherence'), and its scale.

    Each mean leaves out that criterion's unscored grades, as the authors' ``filter_errors`` does; a scale
    with none scored for a criterion has no product.
    """

    def compute(scores: list[SampleScore]) -> Value:
        cells: dict[tuple[str, float], dict[str, list[float]]] = {}
        for sample_score in scores:
            meta = sample_score.sample_metadata or {}
            value = sample_score.score.value
            if not isinstance(value, dict):
                continue
            cell = cells.setdefault((str(meta.get("vector")), float(meta["alpha"])), {c: [] for c in CRITERIA})
            for criterion in CRITERIA:
                grade = value.get(criterion)
                if isinstance(grade, int | float) and not math.isnan(grade):
                    cell[criterion].append(float(grade))
        vectors = sorted({vector for vector, _ in cells})
        figures: dict[str, float] = {}  # first, so inspect view's header shows them
        per_scale: dict[str, float] = {}
        for vector in vectors:
            suffix = f" ({vector})" if len(vectors) > 1 else ""
            products: dict[float, float] = {}
            for (cell_vector, scale), grades in sorted(cells.items()):
                if cell_vector != vector:
                    continue
                if all(grades[c] for c in CRITERIA):
                    products[scale] = product_of_means(*(grades[c] for c in CRITERIA))
                per_scale[f"product α={scale:+g} ({vector})"] = products.get(scale, float("nan"))
            best = best_cell(products)  # the curves' own rule, ties included
            figures[f"max_product{suffix}"] = products[best] if best is not None else float("nan")
            figures[f"scale_at_max{suffix}"] = best if best is not None else float("nan")
        return {**figures, **per_scale}

    return compute


async def _paper_grade(grader: Model, criterion: str, prompt: str, completion: str) -> tuple[float, dict[str, Any]]:
    system, user = paper_messages(criterion, prompt, completion)
    output = await grader.generate(
        [ChatMessageSystem(content=system), ChatMessageUser(content=user)],
        config=paper_grader_config(grader),
        cache=True,
    )
    grade, _ = parse_grade(output.completion)
    # an unparsable reply is unscored (NaN) with its text kept, never a number: the authors dropped them too
    normalised = float("nan") if grade is None else (grade - 1) / 9
    return normalised, {"grade": grade, "grader_reply": output.completion}


@scorer(metrics=[max_product()])
def paper_judge(concept: str = "french", grader: str | None = None) -> Scorer:
    """The authors' two grades of the completion including its prompt: behaviour and coherence, (g - 1) / 9."""
    criteria = paper()["concepts"][concept]

    async def score(state: TaskState, target: Target) -> Score:
        judge = get_model(grader) if grader else get_model(role="grader", default=paper()["grader"])
        completion = state.input_text + state.output.completion
        (behavior, b_meta), (coherence, c_meta) = await asyncio.gather(
            _paper_grade(judge, criteria["score"], state.input_text, completion),
            _paper_grade(judge, criteria["coherence"], state.input_text, completion),
        )
        unscored = [name for name, meta in zip(CRITERIA, (b_meta, c_meta)) if meta["grade"] is None]
        return Score(
            value={"behavior": behavior, "coherence": coherence},
            answer=completion,
            explanation="unscored: " + ", ".join(unscored) if unscored else None,
            metadata={"behavior": b_meta, "coherence": c_meta, "criteria": criteria},
        )

    return score


@task
@user_errors
def sae_ts_paper(
    vector: str | list[str] = "sae",
    concept: str = "french",
    features: str | list[str] | None = None,
    samples: int = 256,
    model: str = paper()["model"],
    layer: int = paper()["layer"],
    sae: str | None = None,
    sae_ts: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    cache: bool = True,
    **unknown: Any,
) -> Task:
    """The paper's French evaluation (Chalnev, Siu & Conmy 2024, analysis.py), comparable with its tables.

    The task brings its own steered model (``--model`` is not used).

    Args:
        vector: "sae" (the authors' feature steering: the normalised weighted sum of the concept's decoder
            rows), "sae_ts" (the SAE-TS vector for the same weighted target; fit one first), or both.
        concept: a concept of prompts/sae_ts/paper.json (its features and the two criteria).
        features: weighted features in place of the concept's (``5:0.5,17:0.5``), for offline runs on a small SAE.
        samples: samples per scale (the paper: 256); sample j has seed ``seed + j`` at every scale.
        model: the base model (google/gemma-2-2b); a local folder for offline runs.
        layer: the steered layer (12).
        sae: a local SAE folder in place of Gemma Scope's layer-12 16k SAE (offline runs).
        sae_ts: a fitted approximator for vector=sae_ts (default: where ``python -m steering.sae_ts fit`` saves it).
        device, dtype, batch_size: passed to the steered provider.
        seed: the first sample's seed.
        cache: cache generations with Inspect's cache.
    """
    refuse_unknown(sae_ts_paper, unknown)
    spec = paper()
    if concept not in spec["concepts"]:
        raise ValueError(f"unknown concept {concept!r}: prompts/sae_ts/paper.json has {sorted(spec['concepts'])}")
    vectors = parse_vectors(vector)
    if not set(vectors) <= {"sae", "sae_ts"}:
        raise ValueError(f"the paper preset steers with vector 'sae' or 'sae_ts', got {vectors}")
    n = parse_int(samples, "samples", minimum=1)
    first_seed = parse_int(seed, "seed")
    model_args: dict[str, Any] = {
        "layer": parse_int(layer, "layer"),
        "sae_release": spec["sae_release"],
        "sae_id": spec["sae_id"],
        "chat_template": False,  # the authors' to_tokens(prompt, prepend_bos=True) on a base model
        "fluency_proxy": False,
    }
    optional = {"sae": sae, "sae_ts": sae_ts, "device": device, "dtype": dtype, "batch_size": batch_size}
    model_args.update({k: v for k, v in optional.items() if v is not None})
    steered = get_model(f"steered/{model}", **model_args)
    weighted = spec["concepts"][concept]["features"]
    targets = targets_label(parse_targets(features) if features is not None else check_targets(weighted))
    samples_list = steering_samples(
        [{"id": f"s{j:03d}", "prompt": spec["prompt"]} for j in range(n)],
        paper_scales(),
        ["add"],
        None,
        vectors,
        extra={"targets": targets, "concept": concept},
    )
    for sample in samples_list:
        sample.metadata["seed"] = first_seed + int(sample.metadata["prompt_id"][1:])
    return Task(
        name="sae_ts_paper",
        dataset=MemoryDataset(samples_list, name="sae_ts_paper"),
        solver=steer(cache=parse_bool(cache, "cache")),
        scorer=paper_judge(concept),
        model=steered,
        config=GenerateConfig(
            max_tokens=spec["max_new_tokens"],
            # the authors also passed top_p=0.3, which TransformerLens ignores when top_k is set
            temperature=spec["sampling"]["temperature"],
            top_k=spec["sampling"]["top_k"],
            adaptive_connections=False,
        ),
        metadata={"preset": "sae_ts_paper", "concept": concept, "targets": targets, "vectors": vectors},
    )
