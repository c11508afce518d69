"""The agent's persona: tone (`style`) and answer length presets as instructions to the model.

`style` is concise, friendly or formal; `answer_length` short, medium or long. Each maps to one
short sentence appended to the agent's system prompt, and the length also bounds the tokens the
model may write. The defaults (concise, medium) add nothing: the built-in instructions already
ask for a plain, sourced answer, so agents that never set a persona answer as before.
"""

from __future__ import annotations

import dataclasses

from agentkit.errors import InvalidSettingError
from agentkit.models.generators import GenerationSettings

DEFAULT_STYLE = "concise"
DEFAULT_ANSWER_LENGTH = "medium"

STYLE_INSTRUCTIONS = {
    "concise": "",
    "friendly": "Write in a warm, friendly and encouraging tone, as a helpful colleague would.",
    "formal": "Write in a formal, polite and professional tone; avoid casual phrasing.",
}
LENGTH_INSTRUCTIONS = {
    "short": "Keep the answer short: one or two sentences.",
    "medium": "",
    "long": "Give a complete, detailed answer in several sentences, covering every relevant point the sources make.",
}
# Tokens the model may write for each length: short caps the agent's setting, long raises it.
SHORT_ANSWER_TOKENS = 96
LONG_ANSWER_TOKENS = 384

STYLES = tuple(STYLE_INSTRUCTIONS)
ANSWER_LENGTHS = tuple(LENGTH_INSTRUCTIONS)


def check_style(style: str) -> str:
    """`style` when it is a known preset; otherwise an error listing them."""
    if style not in STYLE_INSTRUCTIONS:
        raise InvalidSettingError(f"style {style!r} is not one of {', '.join(STYLES)}")
    return style


def check_answer_length(answer_length: str) -> str:
    """`answer_length` when it is a known preset; otherwise an error listing them."""
    if answer_length not in LENGTH_INSTRUCTIONS:
        raise InvalidSettingError(
            f"answer length {answer_length!r} is not one of {', '.join(ANSWER_LENGTHS)}"
        )
    return answer_length


def persona_instructions(style: str, answer_length: str) -> str:
    """The sentences the presets add to the system prompt ("" for the defaults)."""
    parts = (STYLE_INSTRUCTIONS.get(style, ""), LENGTH_INSTRUCTIONS.get(answer_length, ""))
    return " ".join(part for part in parts if part)


def system_prompt_with_persona(system_prompt: str, style: str, answer_length: str) -> str:
    """The agent's instructions followed by its persona's."""
    extra = persona_instructions(style, answer_length)
    return f"{system_prompt.rstrip()}\n\n{extra}" if extra else system_prompt


def generation_with_persona(generation: GenerationSettings, answer_length: str) -> GenerationSettings:
    """The agent's sampling settings with the answer length's token bound applied."""
    tokens = generation.max_answer_tokens
    if answer_length == "short":
        tokens = min(tokens, SHORT_ANSWER_TOKENS)
    elif answer_length == "long":
        tokens = max(tokens, LONG_ANSWER_TOKENS)
    if tokens == generation.max_answer_tokens:
        return generation
    return dataclasses.replace(generation, max_answer_tokens=tokens)
