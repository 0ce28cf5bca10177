"""What the judge sees and how its reply becomes a grade. Templates live in prompts/."""

from __future__ import annotations

import json
import re
from functools import cache

from steering import PROMPTS_DIR

GRADE_RANGE = (1, 10)

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_SCORE_FIELD = re.compile(r'"?score"?\s*[:=]\s*(-?\d+(?:\.\d+)?)', re.IGNORECASE)


@cache
def criteria() -> dict[str, str]:
    return json.loads((PROMPTS_DIR / "criteria.json").read_text())


@cache
def _template(name: str) -> str:
    return (PROMPTS_DIR / name).read_text()


def judge_messages(criterion: str, prompt: str, reply: str) -> tuple[str, str]:
    """(system, user) messages: SAE-TS's judge, with the prompt and reply in delimited blocks."""
    return (
        _template("judge_system.txt").format(criterion=criterion).strip(),
        _template("judge_user.txt").format(prompt=prompt, reply=reply).strip(),
    )


def parse_grade(text: str) -> tuple[float | None, str]:
    """(grade, reasoning) from the judge's JSON reply; grade None when none in 1..10 can be read."""
    reasoning = text.strip()
    grade: float | None = None
    match = _JSON_OBJECT.search(text)
    if match:
        try:
            data = json.loads(match.group(0))
            if isinstance(data, dict):
                reasoning = str(data.get("reasoning", reasoning))
                value = data.get("score")
                if isinstance(value, int | float) and not isinstance(value, bool):
                    grade = float(value)
                elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
                    grade = float(value)
        except json.JSONDecodeError:
            pass
    if grade is None:
        field = _SCORE_FIELD.search(text)
        grade = float(field.group(1)) if field else None
    if grade is None or not GRADE_RANGE[0] <= grade <= GRADE_RANGE[1]:
        return None, reasoning
    return grade, reasoning
