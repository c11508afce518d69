"""Answering: question -> retrieval -> gate -> prompt -> generation -> grounding -> `Answer`.

`answer_stream` returns an `AnswerStream`: iterate it for the reply's text, then read
`.answer` for the final `Answer` (text, citations, abstained). `ask` is the same without
streaming.

How the agent's `grounding` setting shapes this (see `agentkit.answering.grounding`):
- `strict` and `balanced`: when retrieval evidence is too weak the model is not called at all;
  otherwise the model's reply is checked sentence by sentence before anyone sees it: in
  `balanced` each sentence is shown, with its verified [n] marks, as soon as it is complete
  and supported; in `strict` the answer is shown whole at the end (one unsupported sentence
  anywhere voids it). The reply's first claim must also be what the source sentence that
  best matches the question says (that sentence is found before generation, so streaming is
  not held back). Unverified words are never streamed. When the gate let the question
  through but the reply is void, the answer is that source sentence, quoted
  (`agentkit.answering.quoting`). An abstention is the agent's abstention message and lists the
  closest sources found.
- `off`: the model is always called (when anything was retrieved) and its words are streamed
  as they come; the answer cites every source the prompt held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentkit.answering.answerability import AnswerabilityModel
from agentkit.answering.gate import GateDecision, should_attempt_answer
from agentkit.answering.grounding import (
    DEFAULT_ABSTENTION_MESSAGE,
    GROUNDING_MODES,
    GroundedAnswer,
    GroundingMode,
    GroundingThresholds,
    SentenceGrounder,
    SentenceReport,
    abstention_message,
    cited_sentence,
    conclude,
    ground_answer,
    is_refusal,
    thresholds_for,
    without_unfinished_tail,
)
from agentkit.answering.prompting import build_prompt
from agentkit.answering.quoting import Quote, best_quote, quoted_answer
from agentkit.answering.support import question_terms, split_sentences
from agentkit.models.generators import ChatMessage, GenerationSettings, Generator
from agentkit.results import Answer, Citation, SearchHit

if TYPE_CHECKING:
    from agentkit.models.embedders import Embedder

__all__ = [
    "ABSTENTION_SOURCES",
    "DEFAULT_ABSTENTION_MESSAGE",
    "AnswerStream",
    "AnsweringSettings",
    "AnswerTrace",
    "answer_stream",
]

ABSTENTION_SOURCES = 3


@dataclass(frozen=True)
class AnsweringSettings:
    system_prompt: str
    top_k: int
    grounding: str
    abstention_message: str | None
    generation: GenerationSettings
    thresholds: GroundingThresholds | None = None  # None: the calibrated ones of `grounding`
    answerability: AnswerabilityModel | None = None  # None: the one shipped for the default embedder


@dataclass
class AnswerTrace:
    """What happened on the way to an answer (for evaluation and debugging)."""

    hits: list[SearchHit] = field(default_factory=list)
    gate: GateDecision | None = None
    raw_reply: str | None = None
    grounded: GroundedAnswer | None = None

    def decision(self) -> str:
        """One line on why the answer is what it is (gate, grounding, quote)."""
        parts: list[str] = []
        if not self.hits:
            return "nothing was retrieved"
        if self.gate is not None:
            probability = ""
            if self.gate.answerability is not None and "answerability" not in self.gate.reason:
                probability = f" (answerability {self.gate.answerability:.2f})"
            parts.append(f"gate: {self.gate.reason}{probability}")
        if self.grounded is not None:
            parts.append(f"grounding: {self.grounded.reason}")
        return "; ".join(parts) or "grounding is off"


class AnswerStream:
    """The reply's text pieces as they come; `answer` is set once iteration has finished."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.answer: Answer | None = None
        self.trace = AnswerTrace()

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
    embedder: Embedder | None = None,
) -> AnswerStream:
    """Answer `question`, retrieving with `search_query` (a standalone form of it).

    `embedder`, when given, adds embedding similarity to the sentence support check.
    """
    stream = AnswerStream(iter(()))
    mode = _grounding_mode(settings.grounding)
    thresholds = settings.thresholds or thresholds_for(mode)

    def abstain(hits: Sequence[SearchHit]) -> Iterator[str]:
        stream.answer = _abstention(question, search_query, hits, settings)
        yield stream.answer.text

    def pieces() -> Iterator[str]:
        hits = search(search_query, settings.top_k)
        stream.trace.hits = list(hits)
        if not hits:
            yield from abstain(hits)
            return
        if mode != "off":
            # The standalone query: a follow-up's own words lack the topic.
            stream.trace.gate = should_attempt_answer(search_query, hits, thresholds, settings.answerability)
            if not stream.trace.gate.answer:
                yield from abstain(hits)
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
        # The source sentence that best matches the question: the reply's first claim must be
        # what it says, and it is the answer when nothing of the reply stands.
        quote = best_quote(search_query, question_terms(search_query), plan.sources) if mode != "off" else None
        streamed = (
            _SentenceStreamer(plan.sources, thresholds, embedder, search_query, quote) if mode == "balanced" else None
        )
        for piece in generator.stream(
            plan.messages,
            max_tokens=settings.generation.max_answer_tokens,
            temperature=settings.generation.temperature,
        ):
            parts.append(piece)
            if mode == "off":
                yield piece
            elif streamed is not None:
                yield from streamed.feed("".join(parts))
        stream.trace.raw_reply = "".join(parts)
        if streamed is not None:
            yield from streamed.feed(stream.trace.raw_reply, final=True)
            grounded = conclude(streamed.reports, "balanced")
        else:
            grounded = ground_answer(
                stream.trace.raw_reply,
                plan.sources,
                question=search_query,
                mode=mode,
                thresholds=thresholds,
                embedder=embedder,
                anchor=quote,
            )
        if grounded.abstained and quote is not None and not _model_refused(stream.trace.raw_reply, grounded):
            # The gate found the evidence strong but the model's words do not stand:
            # answer with the source sentence that best matches the question, verbatim.
            grounded = _quoted(grounded, quote)
            yield grounded.text
        stream.trace.grounded = grounded
        if grounded.abstained:
            if mode == "off":
                # The words were already shown; the answer is marked as the model's own "I don't know".
                stream.answer = Answer(
                    text=stream.trace.raw_reply.strip(),
                    citations=_closest(hits),
                    abstained=True,
                    question=question,
                    search_query=search_query,
                )
                return
            yield from abstain(hits)
            return
        stream.answer = Answer(
            text=grounded.text,
            citations=[Citation.from_hit(n, plan.sources[n - 1]) for n in grounded.cited_numbers],
            abstained=False,
            question=question,
            search_query=search_query,
        )
        if mode == "strict" and not grounded.quoted:
            yield grounded.text

    stream._pieces = pieces()
    return stream


class _SentenceStreamer:
    """Balanced mode while streaming: each sentence is judged as soon as it is complete and
    shown (with its verified [n] marks) only if a source supports it."""

    def __init__(
        self,
        sources: Sequence[SearchHit],
        thresholds: GroundingThresholds,
        embedder: Embedder | None,
        question: str,
        anchor: Quote | None,
    ) -> None:
        self.grounder = SentenceGrounder(
            sources, thresholds=thresholds, embedder=embedder, question=question, anchor=anchor
        )
        self.reports: list[SentenceReport] = []
        self.shown = 0
        self.stopped = False

    def feed(self, text_so_far: str, *, final: bool = False) -> Iterator[str]:
        """Judge the sentences completed so far; yield the supported ones not yet shown."""
        sentences = split_sentences(text_so_far)
        if final:
            sentences = without_unfinished_tail(sentences)
        else:
            # The last sentence may still grow; one that is only "[" may be a citation mark
            # that belongs to the sentence before it.
            complete = len(sentences) - 1
            if sentences and sentences[-1].lstrip().startswith("["):
                complete -= 1
            sentences = sentences[: max(complete, 0)]
        if len(self.reports) == 0 and sentences and is_refusal(sentences[0]):
            self.stopped = True
        while not self.stopped and len(self.reports) < len(sentences):
            report = self.grounder.judge(sentences[len(self.reports)])
            self.reports.append(report)
            if report.refusal or report.off_anchor:
                self.stopped = True  # what follows "I don't know", or a claim beside the point, is not an answer
            elif report.supported:
                yield (" " if self.shown else "") + cited_sentence(report)
                self.shown += 1


def _grounding_mode(value: str) -> GroundingMode:
    for mode in GROUNDING_MODES:
        if value == mode:
            return mode
    raise ValueError(f"grounding must be one of {', '.join(GROUNDING_MODES)}, got {value!r}")


def _model_refused(reply: str, grounded: GroundedAnswer) -> bool:
    """Whether the model said it does not know: in its first sentence (which the streaming
    check stops at without judging) or in any sentence grounding judged."""
    sentences = split_sentences(reply)
    return (bool(sentences) and is_refusal(sentences[0])) or any(r.refusal for r in grounded.sentence_reports)


def _quoted(grounded: GroundedAnswer, quote: Quote) -> GroundedAnswer:
    """The quote in place of a reply that did not stand."""
    return GroundedAnswer(
        text=quoted_answer(quote),
        cited_numbers=(quote.number,),
        abstained=False,
        reason=f"quoted source [{quote.number}] because {grounded.reason}",
        sentence_reports=grounded.sentence_reports,
        quoted=True,
    )


def _closest(hits: Sequence[SearchHit]) -> list[Citation]:
    return [Citation.from_hit(i + 1, hit) for i, hit in enumerate(hits[:ABSTENTION_SOURCES])]


def _abstention(
    question: str, search_query: str, hits: Sequence[SearchHit], settings: AnsweringSettings
) -> Answer:
    return Answer(
        text=abstention_message(settings.abstention_message),
        citations=_closest(hits),
        abstained=True,
        question=question,
        search_query=search_query,
    )
