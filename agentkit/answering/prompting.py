"""Prompt building: the agent's instructions, numbered sources and history, within a token budget.

The prompt must always fit the model's context window. The budget is the window minus the
tokens reserved for the answer; the system instructions and the question always go in, then
sources in rank order (the last one trimmed if it only partly fits), then as much recent
history as still fits. Nothing fails because a prompt is too long: things are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentkit.models.generators import ChatMessage
from agentkit.results import SearchHit

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the question using only the numbered sources. "
    "Cite the sources you use as [1], [2]. If the sources do not contain the answer, say "
    "you do not know."
)

_SAFETY_MARGIN_TOKENS = 16
_MIN_SOURCE_TOKENS = 40


@dataclass(frozen=True)
class PromptPlan:
    """The messages to send and which hits made it into them, numbered from 1."""

    messages: list[ChatMessage]
    sources: list[SearchHit]
    history_used: int


def format_source(n: int, hit: SearchHit, text: str | None = None) -> str:
    """One numbered source as the model sees it (a heading that repeats the one above it, as
    a page's title and its first heading often do, is shown once)."""
    parts: list[str] = []
    for part in (hit.title, *hit.heading_path):
        if part and (not parts or part.strip().casefold() != parts[-1].strip().casefold()):
            parts.append(part)
    where = " > ".join(parts)
    page = f", page {hit.page}" if hit.page else ""
    return f"[{n}] {where}{page}\n{text if text is not None else hit.text}"


def build_prompt(
    *,
    system_prompt: str,
    question: str,
    hits: Sequence[SearchHit],
    history: Sequence[ChatMessage],
    context_window: int,
    max_answer_tokens: int,
    count_tokens: Callable[[str], int],
    excerpts: Sequence[str | None] | None = None,
) -> PromptPlan:
    """Fit instructions, sources, history and the question into the context window.

    `excerpts`, when given, holds for each hit the text to show instead of the whole chunk
    (None keeps the chunk; an empty text leaves the hit out: what it holds is shown above).
    """
    budget = context_window - max_answer_tokens - _SAFETY_MARGIN_TOKENS
    question_block = f"Question: {question}"
    # Per-message template overhead (role markers) is small; count it generously.
    overhead = 8 * (3 + len(history))
    remaining = budget - overhead - count_tokens(system_prompt) - count_tokens(question_block)
    if remaining < 0:
        raise ValueError(
            "the context window is too small for the instructions and the question; "
            "raise the agent's context window or shorten its system prompt"
        )

    source_texts: list[str] = []
    used_hits: list[SearchHit] = []
    for position, hit in enumerate(hits):
        shown = excerpts[position] if excerpts is not None and position < len(excerpts) else None
        if shown == "":
            continue
        candidate = format_source(len(used_hits) + 1, hit, shown)
        cost = count_tokens(candidate) + 2
        if cost <= remaining:
            source_texts.append(candidate)
            used_hits.append(hit)
            remaining -= cost
            continue
        if remaining >= _MIN_SOURCE_TOKENS:
            trimmed = _trim_to_tokens(shown if shown is not None else hit.text, remaining - 12, count_tokens)
            if trimmed:
                source_texts.append(format_source(len(used_hits) + 1, hit, trimmed))
                used_hits.append(hit)
                remaining = 0
        break

    kept_history: list[ChatMessage] = []
    for message in reversed(history):
        cost = count_tokens(message.content) + 8
        if cost > remaining:
            break
        kept_history.insert(0, message)
        remaining -= cost
    # A conversation must start with a user turn for most chat templates.
    while kept_history and kept_history[0].role != "user":
        kept_history.pop(0)

    sources_block = "\n\n".join(source_texts) if source_texts else "(no sources)"
    user_content = f"Sources:\n{sources_block}\n\n{question_block}"
    messages = [ChatMessage("system", system_prompt), *kept_history, ChatMessage("user", user_content)]
    return PromptPlan(messages=messages, sources=used_hits, history_used=len(kept_history))


def _trim_to_tokens(text: str, limit: int, count_tokens: Callable[[str], int]) -> str:
    """The longest word-boundary prefix of `text` within `limit` tokens."""
    if limit <= 0:
        return ""
    words = text.split()
    low, high = 0, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(" ".join(words[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]) + (" ..." if low < len(words) else "")
