"""A wheel install works without the checkout: prompts ship as package data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from inspect_ai.log import read_eval_log

REPO = Path(__file__).resolve().parents[1]

TASK = """
from inspect_ai import Task, task

from evals.sweep import criterion_sweep


@task
def tiny(**args) -> Task:
    return criterion_sweep("tiny", "The text is polite.", args=args)
"""


def test_a_wheel_installed_outside_the_checkout_runs_an_eval(tiny_model_dir, tiny_sae_dir, tmp_path):
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(REPO), "-w", str(wheels)], check=True)
    (wheel,) = wheels.glob("steering_eval-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"steering/prompts/criteria.json", "steering/prompts/judge_system.txt"} <= set(names)
    assert "steering/prompts/contrast/french_english.json" in names
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    work.mkdir()
    (work / "tiny_task.py").write_text(TASK)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import steering; print(steering.PROMPTS_DIR)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()) == target / "steering" / "prompts"
    command = [
        sys.executable, "-m", "inspect_ai", "eval", "tiny_task.py",
        "--model", f"steered/{tiny_model_dir}", "-M", f"sae={tiny_sae_dir}", "-M", "layer=2",
        "-T", "feature=5", "-T", "alphas=0,40", "-T", "n_prompts=1", "-T", "max_tokens=6", "-T", "judge=false",
        "--log-dir", str(work / "logs"), "--display", "plain",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (log_file,) = (work / "logs").glob("*.eval")
    log = read_eval_log(str(log_file))
    assert log.status == "success" and len(log.samples) == 4
