"""Test doubles that are real subclasses of the library's interfaces.

`FakeEmbedder` is the hashing embedder (deterministic, instant, no model files).
`ScriptedGenerator` replays queued replies and records every prompt it was given; with an
empty queue it answers with the first sentence of source [1], cited, like a well-behaved model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agentkit.models.embedders import HashingEmbedder
from agentkit.models.generators import ChatMessage, Generator


class FakeEmbedder(HashingEmbedder):
    def __init__(self, dimension: int = 128) -> None:
        super().__init__(dimension)
        self.embedded_texts: list[str] = []

    def embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.embedded_texts.extend(texts)
        return super().embed_batch(texts)


class ScriptedGenerator(Generator):
    def __init__(self, replies: list[str] | None = None, *, context_window: int = 2048) -> None:
        self.replies = list(replies or [])
        self.prompts: list[list[ChatMessage]] = []
        self.max_tokens: list[int] = []  # the answer-length bound of each prompt
        self.words_generated: list[int] = []  # per reply: the words its reader took before stopping
        self.context_window = context_window

    def enqueue(self, *replies: str) -> None:
        self.replies.extend(replies)

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        self.prompts.append(list(messages))
        self.max_tokens.append(max_tokens)
        reply = self.replies.pop(0) if self.replies else self._echo_first_source(messages)
        self.words_generated.append(0)
        for word in re.findall(r"\S+\s*", reply):
            self.words_generated[-1] += 1
            yield word

    @staticmethod
    def _echo_first_source(messages: list[ChatMessage]) -> str:
        content = messages[-1].content
        match = re.search(r"\[1\][^\n]*\n(.+?)(?:\n\n\[2\]|\n\nQuestion:)", content, re.S)
        if not match:
            return "I do not know."
        first_sentence = re.split(r"(?<=[.!?])\s", match.group(1).strip(), maxsplit=1)[0]
        return f"{first_sentence} [1]"
