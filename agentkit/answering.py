"""Answering: question -> retrieval -> gate -> prompt -> generation -> `Answer`.

`answer_stream` returns an `AnswerStream`: iterate it for the reply's text as it is
produced, then read `.answer` for the final `Answer` (text, citations, abstained). `ask` is
the same without streaming.

When retrieval finds nothing relevant enough the model is not called at all: the answer is
an abstention that still lists the closest sources found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from agentkit.generation import ChatMessage, GenerationSettings, Generator
from agentkit.prompting import build_prompt
from agentkit.results import Answer, Citation, SearchHit

DEFAULT_ABSTENTION_MESSAGE = (
    "I don't know: the sources I have do not answer that. The closest sources I found are listed."
)
# Cosine similarity below which the best chunk is taken as unrelated to the question.
MIN_RELEVANCE = 0.25
ABSTENTION_SOURCES = 3

_CITATION_MARK = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class AnsweringSettings:
    system_prompt: str
    top_k: int
    grounding: str
    abstention_message: str | None
    generation: GenerationSettings


class AnswerStream:
    """The reply's text pieces as they come; `answer` is set once iteration has finished."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        yield from self._pieces

    def finish(self) -> Answer:
        """Consume whatever is left and return the final answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


def answer_stream(
    *,
    question: str,
    search_query: str,
    history: Sequence[ChatMessage],
    search: Callable[[str, int], list[SearchHit]],
    load_generator: Callable[[], Generator],
    settings: AnsweringSettings,
) -> AnswerStream:
    """Answer `question`, retrieving with `search_query` (a standalone form of it)."""
    stream = AnswerStream(iter(()))

    def pieces() -> Iterator[str]:
        hits = search(search_query, settings.top_k)
        if not hits or hits[0].score < MIN_RELEVANCE and (hits[0].dense_score or 0.0) < MIN_RELEVANCE:
            stream.answer = _abstention(question, search_query, hits, settings)
            yield stream.answer.text
            return
        generator = load_generator()
        plan = build_prompt(
            system_prompt=settings.system_prompt,
            question=question,
            hits=hits,
            history=history,
            context_window=generator.context_window,
            max_answer_tokens=settings.generation.max_answer_tokens,
            count_tokens=generator.count_tokens,
        )
        parts: list[str] = []
        for piece in generator.stream(
            plan.messages,
            max_tokens=settings.generation.max_answer_tokens,
            temperature=settings.generation.temperature,
        ):
            parts.append(piece)
            yield piece
        text = "".join(parts).strip()
        stream.answer = Answer(
            text=text,
            citations=_cited_sources(text, plan.sources),
            abstained=False,
            question=question,
            search_query=search_query,
        )

    stream._pieces = pieces()
    return stream


def _cited_sources(text: str, sources: Sequence[SearchHit]) -> list[Citation]:
    """The sources the text cites as [n]; all prompt sources when it cites none."""
    cited = sorted({int(n) for n in _CITATION_MARK.findall(text) if 1 <= int(n) <= len(sources)})
    numbers = cited or list(range(1, len(sources) + 1))
    return [Citation.from_hit(n, sources[n - 1]) for n in numbers]


def _abstention(
    question: str, search_query: str, hits: Sequence[SearchHit], settings: AnsweringSettings
) -> Answer:
    closest = [Citation.from_hit(i + 1, hit) for i, hit in enumerate(hits[:ABSTENTION_SOURCES])]
    return Answer(
        text=settings.abstention_message or DEFAULT_ABSTENTION_MESSAGE,
        citations=closest,
        abstained=True,
        question=question,
        search_query=search_query,
    )
