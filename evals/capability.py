"""The capability tax: any Inspect task run at several alphas and methods on one set of weights.

python -m evals.capability inspect_evals/gsm8k --model steered/google/gemma-2-2b-it -M feature=12332 \
  --alphas 50,100,200 --methods add,add_renorm --instruction "Answer in French." --log-dir out/capability

Each setting is the same model with other model-level steering (``-M alpha=... -M method=...``), so the
task itself is untouched; one eval set writes one log per setting (the unsteered model once, each
steered alpha and method, and the prompting reference: the task unsteered with ``--instruction`` put
into each prompt), and a rerun resumes it. ``python -m evals.capability plot`` (or the demo) reads the
logs back into accuracy against alpha (``evals.analysis.capability``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai import Task
from inspect_ai.model import Model, get_model

from evals.args import parse_alphas, parse_methods

STEERING_ARGS = ("alpha", "method", "instruction")
"""Model arguments a setting sets itself: given in --model-args they would be overridden."""


@dataclass(frozen=True)
class Setting:
    """One model of the sweep: ``alpha`` None is unsteered; an instruction makes it the prompting reference."""

    alpha: float | None = None
    method: str | None = None
    instruction: str | None = None

    def model_args(self) -> dict[str, Any]:
        # unsteered is alpha 0 under add, bit for bit the plain model, so the direction arguments stay valid
        args: dict[str, Any] = {"alpha": self.alpha or 0.0, "method": self.method or "add"}
        if self.instruction is not None:
            args["instruction"] = self.instruction
        return args


def settings(alphas: Sequence[float], methods: Sequence[str], instruction: str | None = None) -> list[Setting]:
    """Unsteered once (every method is the same model at alpha 0), each nonzero alpha x method, prompting."""
    steered = [Setting(float(a), m) for m in methods for a in sorted(set(alphas)) if float(a) != 0.0]
    return [Setting(), *steered, *([Setting(instruction=instruction)] if instruction else [])]


def setting_models(model: str, model_args: dict[str, Any], chosen: Sequence[Setting]) -> list[Model]:
    clash = sorted(set(model_args) & set(STEERING_ARGS))
    if clash:
        raise ValueError(f"model args {clash} are set per setting: use --alphas/--methods/--instruction instead")
    return [get_model(model, **model_args, **setting.model_args()) for setting in chosen]


def run_capability(
    task: str | Task,
    model: str,
    model_args: dict[str, Any],
    alphas: Sequence[float],
    methods: Sequence[str],
    log_dir: str | Path,
    instruction: str | None = None,
    **eval_set_args: Any,
) -> tuple[bool, list]:
    """One eval set: the task on every setting's model, one log each (an interrupted run resumes)."""
    from inspect_ai import eval_set

    if not str(model).startswith("steered/"):
        raise ValueError(f"the capability sweep steers a steered/ model, got {model!r}")
    models = setting_models(model, model_args, settings(alphas, methods, instruction))
    # a local model has no rate limit to probe: every sample in flight at once fills the provider's batches
    eval_set_args.setdefault("adaptive_connections", False)
    return eval_set(task, model=models, log_dir=str(log_dir), **eval_set_args)


def _model_args(pairs: Sequence[str]) -> dict[str, Any]:
    import yaml

    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"-M takes key=value, got {pair!r}")
        args[key] = yaml.safe_load(value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a task at every setting")
    run.add_argument("task", help="a registry name (inspect_evals/gsm8k) or a task file (evals/facts.py)")
    run.add_argument("--model", required=True, help="steered/<model>")
    run.add_argument("-M", dest="model_args", action="append", default=[], help="provider argument key=value")
    run.add_argument("-T", dest="task_args", action="append", default=[], help="task argument key=value")
    run.add_argument("--alphas", required=True, help="comma-separated steering strengths")
    run.add_argument("--methods", default="add,add_renorm")
    run.add_argument("--instruction", default=None, help="the prompting reference's instruction (or {prompt} cue)")
    run.add_argument("--log-dir", required=True)
    run.add_argument("--limit", type=int, default=None, help="the first N samples of the task")
    plot = sub.add_parser("plot", help="accuracy vs alpha (beside a steering sweep's curves, when given)")
    plot.add_argument("logs", help="the capability sweep's log folder")
    plot.add_argument("--sweep", default=None, help="a steering sweep's log folder: its curves go beside")
    plot.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "plot":
            from evals.analysis.capability import write_capability

            result = write_capability([args.logs], args.out, [args.sweep] if args.sweep else None)
            print(result["summary_md"])
            return 0
        success, logs = run_capability(
            args.task,
            args.model,
            _model_args(args.model_args),
            parse_alphas(args.alphas),
            parse_methods(args.methods),
            args.log_dir,
            instruction=args.instruction,
            task_args=_model_args(args.task_args),
            limit=args.limit,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for log in logs:
        print(f"{log.status:8} {log.eval.model} {log.eval.model_args} {log.location}")
    return 0 if success else 1


if __name__ == "__main__":
    raise SystemExit(main())
