"""The steering solver: the sample's metadata says how its one generation is steered."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from inspect_ai.model import CachePolicy, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from evals.dataset import PROMPTING
from evals.preflight import check_grader
from evals.scorers import grader_model
from steering.defaults import DEFAULT_SAE_ID, DEFAULT_SAE_RELEASE, PROVIDER_DEFAULTS
from steering.prompting import with_instruction
from steering.sae_directory import check_feature_width
from steering.sources import get_source
from steering.spec import SteeringSpec, parse_targets


def _fingerprint(path: str) -> str:
    """Size and modification time of a local file (or a folder's files): a changed file misses the cache."""
    target = Path(path)
    files = sorted(p for p in target.iterdir() if p.is_file()) if target.is_dir() else [target]
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files if p.exists())


def cache_scopes(model_args: dict[str, Any], vector: str) -> dict[str, str]:
    """What Inspect's cache key lacks: the provider's -M args (layer, SAE, ...) and the local files they name."""
    from steering.models import default_device, default_dtype, versions

    device = model_args.get("device") or default_device()
    numerics = {"device": device, "dtype": model_args.get("dtype") or default_dtype(device), **versions()}
    scopes = {
        "model_args": json.dumps(model_args, sort_keys=True, default=str),
        # what the -M args leave to the machine: another device, dtype or library version gives other text
        "numerics": json.dumps({**numerics, "attn": model_args.get("attn") or "auto"}, sort_keys=True),
        # rows are seeded per prompt (steering.sampling.prompt_seed); older cached text had one noise
        "noise": "per-prompt",
    }
    files = {name: model_args.get(name) for name in ("sae", "sae_ts", "model_path")}
    for index, path in enumerate([] if vector == PROMPTING else get_source(vector).files(vector)):
        files[f"vector{index or ''}"] = path
    for name, path in files.items():
        if isinstance(path, str) and Path(path).exists():
            scopes[f"file_{name}"] = _fingerprint(path)
    return scopes


def check_feature_for_sae(meta: dict[str, Any], spec: SteeringSpec, model_args: dict[str, Any]) -> None:
    """Before the weights load: a task's default feature is used only in the SAE it was found in (12332 is French
    in Gemma Scope's gemma-2-2b layer-20 16k SAE, an unrelated feature elsewhere: under another SAE, ask for
    one), a Gemma Scope id's layer is the steered layer, and the feature fits the SAE's width."""
    if spec.feature is None or not get_source(spec.vector).takes_feature:
        return
    sae_id = model_args.get("sae_id", DEFAULT_SAE_ID)
    owner = meta.get("feature_sae")
    sae = model_args.get("sae") or f"{model_args.get('sae_release', DEFAULT_SAE_RELEASE)}/{sae_id}"
    if owner and sae != owner:
        raise ValueError(
            f"feature {spec.feature} is this task's default for the SAE {owner}, but the model steers with {sae}: "
            "give -T feature=N for that SAE (find one on Neuronpedia), or use -T vector=diff_of_means"
        )
    named = re.search(r"layer_(\d+)/", sae_id)
    layer = model_args.get("layer", PROVIDER_DEFAULTS["layer"])
    if not model_args.get("sae") and named and int(named.group(1)) != layer:
        raise ValueError(
            f"SAE {sae_id} reads layer {named.group(1)} but the model steers layer {layer}: "
            f"give -M sae_id=layer_{layer}/... (or -M sae=FOLDER)"
        )
    check_feature_width(spec.feature, model_args)


@solver
def steer(normalize: bool = False, cache: bool = True, preflight: bool = False) -> Solver:
    """Generate with the steering in the sample's metadata (alpha, method, feature, vector).

    The spec travels in ``extra_body`` so the provider sees it per call, Inspect logs it
    with the model call and caches on it; the grader never receives it. With ``cache``,
    a retried sample (``inspect eval-retry`` after a grader outage) reuses its generation.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        if preflight:  # the judges' grader answers before anything is generated (evals.preflight)
            await check_grader(grader_model())
        if meta.get("method") == PROMPTING:
            return await _prompted(state, generate, cache)
        spec = SteeringSpec(
            alpha=float(meta["alpha"]),
            method=meta.get("method", "add"),
            feature=meta.get("feature"),
            vector=meta.get("vector", "sae"),
            normalize=normalize,
            contrast=meta.get("contrast"),
            targets=parse_targets(meta["targets"]) if meta.get("targets") else None,
        )
        model_args = get_model().model_args
        check_feature_for_sae(meta, spec, model_args)
        policy = CachePolicy(expiry=None, scopes=cache_scopes(model_args, spec.vector)) if cache else False
        # a sample's own seed (many samples of one prompt, as the SAE-TS paper preset draws) over the task's
        seed = {"seed": int(meta["seed"])} if meta.get("seed") is not None else {}
        return await generate(state, extra_body={"steering": spec.to_dict()}, cache=policy, **seed)

    return solve


async def _prompted(state: TaskState, generate: Generate, cache: bool) -> TaskState:
    """The prompting reference: no steering; the prompt as ``with_instruction`` asks it.

    ``state.input_text`` (what the judges are shown as the prompt) stays the bare prompt, so
    steered and prompted replies are graded against the same question.
    """
    user = state.user_prompt
    user.text = with_instruction(user.text, state.metadata["instruction"])
    policy = CachePolicy(expiry=None, scopes=cache_scopes(get_model().model_args, PROMPTING)) if cache else False
    return await generate(state, cache=policy)
