"""What the judge sees and how its reply becomes a grade. Templates live in prompts/."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache

from pydantic import BaseModel, Field

from steering import PROMPTS_DIR

GRADE_RANGE = (1, 10)
TEMPLATES = ("judge_system.txt", "judge_user.txt")

# the blocks the user message puts the prompt and the reply in; text may not open or close one
_DELIMITER = re.compile(r"<(\s*/?\s*(?:prompt|reply)\b[^>]*)>", re.IGNORECASE)


class Grade(BaseModel):
    """The structured answer asked of graders that support a response schema."""

    reasoning: str = Field(description="one or two sentences on how the text meets the criterion")
    # no minimum/maximum: strict structured-output modes have rejected those keywords (every call a 400);
    # parse_grade enforces the range and records an out-of-range grade as unscored
    score: int = Field(description="integer from 1 to 10")


@cache
def criteria() -> dict[str, str]:
    return json.loads((PROMPTS_DIR / "criteria.json").read_text())


def instructions() -> dict[str, str]:
    """The prompting reference's instruction per criterion (prompts/prompting.json), e.g. "Answer in French."."""
    return json.loads((PROMPTS_DIR / "prompting.json").read_text())


@cache
def _template(name: str) -> str:
    return (PROMPTS_DIR / name).read_text()


def template_digest() -> str:
    """Short hash of the judge templates: curves keep runs judged with different templates apart."""
    text = "\n".join(_template(name) for name in TEMPLATES)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def escape_delimiters(text: str) -> str:
    """Keep quoted text inside its block: ``</reply>`` becomes ``&lt;/reply>``."""
    return _DELIMITER.sub(lambda m: f"&lt;{m.group(1)}>", text)


def judge_messages(criterion: str, prompt: str, reply: str) -> tuple[str, str]:
    """(system, user) messages: our judge, adapted from SAE-TS's (anchors, an injection guard, reasoning first),
    with the prompt and reply in delimited blocks; evals.sae_ts_paper has theirs word for word."""
    return (
        _template("judge_system.txt").format(criterion=criterion).strip(),
        _template("judge_user.txt").format(prompt=escape_delimiters(prompt), reply=escape_delimiters(reply)).strip(),
    )


_OBJECT_START = re.compile(r'\{\s*"')


def _json_objects(text: str) -> list[tuple[int, int, object]]:
    """(start, end, value) of every top-level JSON value that starts with ``{``, in order; a malformed object
    (``{"`` that does not decode) ends the list as ``(start, len(text), None)``."""
    decoder = json.JSONDecoder()
    found, position = [], text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            if _OBJECT_START.match(text, position):
                # a malformed object: whatever follows may be text quoted inside it, never an answer
                found.append((position, len(text), None))
                break
            position = text.find("{", position + 1)  # a stray brace in prose
            continue
        found.append((position, end, value))
        position = text.find("{", end)
    return found


def parse_grade(text: str) -> tuple[int | None, str]:
    """(grade, reasoning) from the grader's own answer; grade None when it gave none we can trust.

    The grader's answer is the last well-formed JSON object with a ``score`` key, and
    nothing after it may open another object (a truncated final answer is not replaced by
    an earlier one, which could be quoted from the graded reply), and an object that opens
    but does not decode ends the search: what follows may be quoted inside it. There is no
    fallback that reads a number elsewhere in the text. The score must be a JSON integer in 1..10.
    """
    reasoning = text.strip()
    answers = [(end, value) for _, end, value in _json_objects(text) if isinstance(value, dict) and "score" in value]
    if not answers:
        return None, reasoning
    end, answer = answers[-1]
    if "{" in text[end:]:
        return None, reasoning
    if isinstance(answer.get("reasoning"), str):
        reasoning = answer["reasoning"]
    score = answer["score"]
    if isinstance(score, bool) or not isinstance(score, int) or not GRADE_RANGE[0] <= score <= GRADE_RANGE[1]:
        return None, reasoning
    return score, reasoning
