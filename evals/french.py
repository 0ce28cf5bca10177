"""Steer toward French: the SAE-TS seed experiment on gemma-2-2b-it.

inspect eval evals/french.py --model steered/google/gemma-2-2b-it --model-role grader=openai/gpt-4o-mini
"""

from typing import Any

from inspect_ai import Task, task

from evals.args import refuse_unknown
from evals.judge import criteria, instructions
from evals.scorers import french_share
from evals.sweep import sweep_task
from steering.provider.errors import user_errors

FRENCH_FEATURE = 12332  # Gemma Scope 2b layer-20 16k residual SAE: "French" on Neuronpedia
FRENCH_FEATURE_SAE = "gemma-scope-2b-pt-res-canonical/layer_20/width_16k/canonical"
"""The SAE in which the default feature means French: with any other SAE the task asks for -T feature=..."""


@task
@user_errors
def french(
    alphas: str | list[float] | float = "default",
    methods: str | list[str] = "add,add_renorm",
    feature: int | str = "default",
    vector: str | list[str] = "sae",
    normalize: bool = False,
    criterion: str = criteria()["french"],
    n_prompts: int | str = "all",
    prompts: str | None = None,
    judge: bool = True,
    max_tokens: int = 64,
    temperature: float = 0.5,
    seed: int = 16,
    cache: bool = True,
    prompting: bool = True,
    instruction: str | None = None,
    preflight: bool = True,
    **unknown: Any,
) -> Task:
    """French language use and fluency against alpha.

    Args:
        alphas: steering strengths; "default" is np.linspace(-300, 300, 20) plus 0.
        methods: steering methods, e.g. "add,add_renorm" (see steering.methods).
        feature: SAE feature id (default 12332, "French", in the provider's SAE).
        vector: direction source(s), swept side by side: "sae" (the feature's raw decoder row), "sae_ts"
            (the SAE-TS vector targeting the feature; unit norm), "diff_of_means", or a .safetensors/.npy path.
        normalize: scale every direction to unit norm (compare "sae" and "sae_ts" at equal alpha).
        criterion: the behavioural judge's criterion sentence.
        n_prompts: use only the first n prompts ("all" by default).
        prompts: a JSONL file of {"id", "prompt"} records (default prompts/instructions.jsonl).
        judge: bind the LLM-judge scorers (behaviour, fluency); the grader is the `grader` role.
        max_tokens: new tokens per reply (64).
        temperature: sampling temperature (0.5, Neuronpedia's default; 0 is greedy).
        seed: sampling seed (16, Neuronpedia's default); a row's text does not depend on its batch mates.
        cache: cache steered generations with Inspect's cache, so a retry after a grader outage regenerates nothing.
        prompting: also run each prompt unsteered with "Answer in French." appended (prompts/prompting.json):
            the prompting reference the curves and best alpha are read against.
        instruction: the prompting reference's instruction instead of "Answer in French." (a template with
            ``{prompt}`` for a base model).
        preflight: send the grader one tiny request before anything is generated, so a dead or unauthorised
            grader fails within seconds (evals.preflight).
    """
    refuse_unknown(french, unknown)
    return sweep_task(
        name="french",
        criterion=criterion,
        feature=FRENCH_FEATURE if feature == "default" else feature,
        feature_sae=FRENCH_FEATURE_SAE if feature == "default" else None,
        alphas=alphas,
        methods=methods,
        vector=vector,
        normalize=normalize,
        prompts=prompts,
        n_prompts=n_prompts,
        judge=judge,
        extra_scorers=[french_share()],
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        cache=cache,
        instruction=instructions()["french"] if instruction is None else instruction,
        prompting=prompting,
        preflight=preflight,
    )
