"""The prompting reference's one rule for putting an instruction into a prompt (solvers and the provider share it)."""

from __future__ import annotations


def with_instruction(prompt: str, instruction: str) -> str:
    """The prompt as the prompting reference asks it.

    A chat model is asked in words: the instruction follows the prompt. A base model only continues
    text, so it is asked with a cue it continues from: an instruction holding ``{prompt}`` is a
    template (a French preamble or a few French lines, then the prompt).
    """
    if "{prompt}" in instruction:
        return instruction.replace("{prompt}", prompt)
    return f"{prompt}\n\n{instruction}"


def instructed(messages: list[dict[str, str]], instruction: str | None) -> list[dict[str, str]]:
    """Messages with the instruction put into the first user turn (the rest unchanged)."""
    if not instruction:
        return messages
    out, done = [], False
    for message in messages:
        if not done and message["role"] == "user":
            message, done = {**message, "content": with_instruction(message["content"], instruction)}, True
        out.append(message)
    return out
