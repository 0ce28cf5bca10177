import pytest

from evals.judge import criteria, judge_messages, parse_grade
from evals.scorers import french_fraction


def test_judge_sees_the_criterion_and_a_delimited_prompt_and_reply():
    system, user = judge_messages(criteria()["french"], "Say hi {politely}", "Bonjour {ami}")
    assert "The text contains French words and French language." in system
    assert "<prompt>\nSay hi {politely}\n</prompt>" in user
    assert "<reply>\nBonjour {ami}\n</reply>" in user


@pytest.mark.parametrize(
    "reply, grade",
    [
        ('{"reasoning": "fine", "score": 7}', 7.0),
        ('Sure.\n```json\n{"reasoning": "ok", "score": "9"}\n```', 9.0),
        ('{"reasoning": "broken json", "score": 4', 4.0),
        ("Score: 10", 10.0),
        ('{"reasoning": "x", "score": 11}', None),
        ('{"reasoning": "x", "score": 0}', None),
        ("I cannot grade this.", None),
        ("", None),
    ],
)
def test_parse_grade(reply, grade):
    assert parse_grade(reply)[0] == grade


def test_parse_grade_keeps_the_reasoning():
    assert parse_grade('{"reasoning": "mostly French", "score": 8}') == (8.0, "mostly French")


def test_french_fraction_separates_french_from_english():
    assert french_fraction("The weather is lovely today and we are going for a walk.") == 0.0
    assert french_fraction("Il fait très beau aujourd'hui et nous allons nous promener.") == 1.0
    mixed = french_fraction("The weather is lovely today. Il fait très beau aujourd'hui, vraiment.")
    assert 0.3 < mixed < 0.7
    assert french_fraction("") == 0.0
    assert french_fraction("1234 !!!") == 0.0
