"""Inspect logs -> one tidy table: a row per sample with its group keys, settings, method, alpha and scores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evals.analysis.schema import GENERATION, GROUP, KEYED, SETTINGS, CurvesError
from evals.analysis.stats import score_columns
from steering.defaults import PROVIDER_DEFAULTS
from steering.sources.registry import takes_feature


def _sae_name(args: dict, defaults: dict[str, object]) -> str:
    if args.get("sae"):
        return str(args["sae"])
    return f"{args.get('sae_release', defaults['sae_release'])}/{args.get('sae_id', defaults['sae_id'])}"


def _log_files(paths: Sequence[str | Path]) -> list[str]:
    files: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if p.suffix in (".eval", ".json") and p.is_file())
        elif path.is_file():
            files.append(str(path))
        else:
            raise CurvesError(f"log path {str(path)!r} does not exist")
    if not files:
        raise CurvesError(f"no .eval or .json logs found in {[str(p) for p in paths]}")
    return files


def _as_dict(value: object) -> dict:
    if isinstance(value, str) and value.strip().startswith("{"):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _setting(df: pd.DataFrame, name: str) -> pd.Series:
    """A generation setting as the run used it: the CLI's value (``--temperature``) over the task's."""
    cli, task = df.get(f"cli_{name}"), df.get(f"task_{name}")
    value = pd.Series(None, index=df.index, dtype=object)
    for source in (task, cli):
        if source is not None:
            value = source.astype(object).where(source.notna(), value)
    return value.map(lambda v: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else v)


def _grader(roles: object) -> str:
    roles = _as_dict(roles)
    grader = roles.get("grader")
    if isinstance(grader, dict):
        return str(grader.get("model", "-"))
    return str(grader) if grader else "-"


def _scorer_names(scorers: object) -> str:
    if isinstance(scorers, str):
        scorers = json.loads(scorers) if scorers.strip().startswith("[") else []
    names = [s.get("name", "?") if isinstance(s, dict) else str(s) for s in scorers or []]
    return ",".join(sorted(names)) or "-"


def settings_label(table: pd.DataFrame) -> pd.Series:
    """Names the settings that vary across the loaded runs (``temperature=0.5``); "-" when none do."""
    varying = [name for name in SETTINGS if table[name].astype(str).nunique() > 1]
    if not varying:
        return pd.Series("-", index=table.index)
    return table[varying].astype(str).apply(lambda row: ", ".join(f"{k}={v}" for k, v in row.items()), axis=1)


def _read_samples(files: list[str], columns: list) -> tuple[pd.DataFrame, list[str]]:
    """samples_df over the readable logs; an unreadable one is skipped and named, never fatal."""
    from inspect_ai.analysis import samples_df

    frames, skipped = [], []
    for file in files:
        try:
            frames.append(samples_df([file], columns=columns, quiet=True))
        except Exception as error:  # a truncated or foreign file must not hide the good logs
            skipped.append(f"{file}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), skipped


def load_table(paths: Sequence[str | Path], report: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """One row per (log's latest copy of a) sample: group keys, settings, method, alpha, prompt, epoch, scores.

    ``report`` (if given) collects what was left out and why: ``skipped_logs``,
    ``failed_samples`` (errored or stopped by a limit; their rows stay, scoreless, with ``failure`` set) and
    ``duplicates``.
    """
    from inspect_ai.analysis import EvalColumn, SampleSummary

    columns = [
        *SampleSummary,
        EvalColumn("task", path="eval.task"),
        EvalColumn("model", path="eval.model"),
        # samples_df's own model_args column reads another field
        EvalColumn("model_args", path="eval.model_args"),
        EvalColumn("created", path="eval.created"),
        EvalColumn("criterion", path="eval.metadata.criterion"),
        EvalColumn("judge_template", path="eval.metadata.judge_template"),
        EvalColumn("model_roles", path="eval.model_roles"),
        EvalColumn("scorer_specs", path="eval.scorers"),
        *(EvalColumn(f"task_{k}", path=f"plan.config.{k}") for k in GENERATION),
        *(EvalColumn(f"cli_{k}", path=f"eval.model_generate_config.{k}") for k in GENERATION),
    ]
    report = {} if report is None else report
    files = _log_files(paths)
    df, report["skipped_logs"] = _read_samples(files, columns)
    missing = [f"metadata {key!r}" for key in ("alpha", "method") if f"metadata_{key}" not in df.columns]
    if df.empty or missing:
        skipped = f"; unreadable: {report['skipped_logs']}" if report["skipped_logs"] else ""
        raise CurvesError(
            f"the logs {files[:3]}{'...' if len(files) > 3 else ''} have no steering sweep samples: "
            f"missing {missing or ['samples']} (run a task built on evals.sweep){skipped}"
        )
    args = df["model_args"].apply(_as_dict)
    defaults = PROVIDER_DEFAULTS
    table = pd.DataFrame(
        {
            "task": df["task"],
            "concept": df.get("metadata_concept", pd.Series("-", index=df.index)).fillna("-"),
            "model": df["model"],
            # weighted SAE-TS targets ("8392:0.5,15769:0.5") stand where a single feature would
            "feature": _features(df),
            "sae": args.apply(_sae_name, defaults=defaults),
            "layer": args.apply(lambda a: a.get("layer", defaults["layer"])),
            "positions": args.apply(lambda a: a.get("positions", defaults["positions"])),
            "vector": df.get("metadata_vector", pd.Series("sae", index=df.index)).fillna("sae"),
            "method": df["metadata_method"],
            "alpha": df["metadata_alpha"].astype(float),
            "prompt_id": df.get("metadata_prompt_id", df["id"]),
            "split": df.get("metadata_split", pd.Series("-", index=df.index)).fillna("-"),
            "epoch": df["epoch"],
            "sample_id": df["id"],
            "criterion": df.get("criterion"),
            "failure": _failures(df),
            "created": pd.to_datetime(df["created"]),
            "log": df["log"],
            **{name: _setting(df, name) for name in GENERATION},
            "grader": df["model_roles"].apply(_grader),
            "judge_template": df.get("judge_template", pd.Series(None, index=df.index)).fillna("-"),
            "scorers": df["scorer_specs"].apply(_scorer_names),
        }
    )
    table["settings"] = settings_label(table)
    table.loc[~table["vector"].map(takes_feature), "sae"] = "-"  # the SAE plays no part there
    for name, values in _scores(df).items():
        table[name] = values
    table = _usable(table, report, files)
    return table.sort_values([*GROUP, "method", "alpha", "prompt_id", "epoch"]).reset_index(drop=True)


def _usable(table: pd.DataFrame, report: dict[str, list[str]], files: list[str]) -> pd.DataFrame:
    """Each sample once (a finished copy first, then the newest log); failed samples kept without scores (their
    ``failure`` says why) and reported."""
    # a resumed or retried run copies finished samples into a new log: keep each sample once, preferring
    # a finished copy, then the newest log
    keys = [*GROUP, "sample_id", "epoch"]
    table["_finished"] = table["failure"] == ""
    table = table.sort_values(["_finished", "created"])
    duplicated = table.duplicated(subset=keys, keep="last")
    report["duplicates"] = [f"{r.sample_id} (epoch {r.epoch}) in {r.log}" for r in table[duplicated].itertuples()]
    table = table[~duplicated]
    failed = table[~table["_finished"]]
    report["failed_samples"] = [f"{r.sample_id} (epoch {r.epoch}): {r.failure} [{r.log}]" for r in failed.itertuples()]
    if failed.shape[0] == table.shape[0]:
        raise CurvesError(
            f"no usable samples: all {len(failed)} sample(s) in {files[:3]} errored or hit a limit, "
            f"e.g. {report['failed_samples'][:3]}"
        )
    # failed samples stay, scoreless, so each cell counts them (as the worst score in the combined score):
    # they happen most at extreme alphas, and leaving them out would flatter those cells
    if len(failed):
        table.loc[~table["_finished"], score_columns(table)] = np.nan
    return table.drop(columns=["_finished"])


def _scores(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Every scorer's columns. A scorer named like a ``KEYED`` scorer's key (``behavior`` from an older log, or
    ``inspect score --scorer ...@behavior`` appended to a new one) fills that column where its row has no keyed
    scorer, and ``<name>1`` (Inspect's own numbering of a second scorer of one name) where it has."""
    names = [c.removeprefix("score_") for c in df.columns if c.startswith("score_")]
    names.sort(key=lambda name: name not in KEYED)
    columns: dict[str, pd.Series] = {}
    keyed_rows = pd.Series(False, index=df.index)
    for scorer in names:
        for name, values in _score_values(scorer, df[f"score_{scorer}"]).items():
            if scorer in KEYED:
                keyed_rows |= df[f"score_{scorer}"].notna()
            elif name in columns:  # a keyed scorer's key: rows without that scorer take it as their own
                columns[name] = columns[name].where(keyed_rows, values)
                values = values.where(keyed_rows)
                name = f"{name}1"
                if values.isna().all():
                    continue
            columns[name] = values
    return columns


def _score_values(name: str, column: pd.Series) -> dict[str, pd.Series]:
    """A scorer's numbers; a scorer with a value per key (the SAE-TS paper preset's behaviour and coherence)
    gives one column per key, ``<scorer>_<key>`` (the key alone for ``KEYED`` scorers), rather than one
    unreadable column."""
    parsed = column.map(lambda v: json.loads(v) if isinstance(v, str) and v.startswith("{") else v)
    if not parsed.map(lambda v: isinstance(v, dict)).any():
        return {name: pd.to_numeric(column, errors="coerce")}
    keys = sorted({k for v in parsed if isinstance(v, dict) for k in v})
    return {
        (key if key in KEYED.get(name, ()) else f"{name}_{key}"): pd.to_numeric(
            parsed.map(lambda v, k=key: v.get(k) if isinstance(v, dict) else None)
        )
        for key in keys
    }


def _features(df: pd.DataFrame) -> pd.Series:
    feature = df.get("metadata_feature", pd.Series(np.nan, index=df.index))
    if "metadata_targets" not in df:
        return feature
    # one type per column, so the table still sorts: feature ids become their labels too
    labels = feature.map(lambda f: f if pd.isna(f) else str(int(f))).astype(object)
    return labels.where(df["metadata_targets"].isna(), df["metadata_targets"])


def _failures(df: pd.DataFrame) -> pd.Series:
    """Why a sample cannot be used ("" when it can): an error, or a limit that stopped it."""
    error = df["error"].fillna("").astype(str) if "error" in df else pd.Series("", index=df.index)
    limit = df["limit"].fillna("").astype(str) if "limit" in df else pd.Series("", index=df.index)
    first_line = error.str.split("\n").str[0].str.slice(0, 160)
    return first_line.where(error != "", ("limit: " + limit).where(limit != "", ""))
