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

Before any of this, `curated` (the agent's curated answers, `agentkit.improve.curated`) is asked
whether the question means the same as one the owner answered: if so, that text is the answer,
cited as "curated answer" (with its source), and nothing is retrieved or generated.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from agentkit.answering.answerability import AnswerabilityModel
from agentkit.answering.gate import GateDecision, should_attempt_answer
from agentkit.answering.grounding import (
    DEFAULT_ABSTENTION_MESSAGE,
    GroundedAnswer,
    GroundingThresholds,
    StreamingGrounder,
    abstention_message,
    grounding_mode,
    thresholds_for,
)
from agentkit.answering.prompting import build_prompt
from agentkit.answering.quoting import Quote, quoted_answer
from agentkit.answering.reader import Embed, excerpts, read
from agentkit.answering.support import printable, question_terms
from agentkit.improve.matching import CuratedReply
from agentkit.models.generators import ChatMessage, GenerationSettings, Generator
from agentkit.results import Answer, Citation, SearchHit

__all__ = [
    "ABSTENTION_SOURCES",
    "DEFAULT_ABSTENTION_MESSAGE",
    "AnswerPieces",
    "AnswerStream",
    "AnsweringSettings",
    "AnswerTrace",
    "CURATED_ANSWER_TITLE",
    "answer_stream",
]

ABSTENTION_SOURCES = 3
CURATED_ANSWER_TITLE = "curated answer"

# The reply's text as it may be shown, piece by piece; the final answer is the return value.
AnswerPieces = collections.abc.Generator[str, None, Answer]


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
    curated: CuratedReply | None = None  # the owner's answer that was used, if one was

    @property
    def curated_answer_id(self) -> int | None:
        """The id of the curated answer given instead of retrieval and the model, if any."""
        return self.curated.id if self.curated is not None else None

    def decision(self) -> str:
        """One line on why the answer is what it is (curated, gate, grounding, quote)."""
        if self.curated is not None:
            return f"curated answer #{self.curated.id} ({self.curated.reason})"
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
    """The reply's text pieces as they come; `answer` is set once iteration has finished.

    `trace` fills in while the answer takes shape (what was retrieved, the gate's decision,
    the raw reply, the grounding).
    """

    def __init__(self, pieces: AnswerPieces, trace: AnswerTrace) -> None:
        self._pieces = pieces  # yields the text, returns the final answer
        self.trace = trace
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        # Stepping by hand rather than `yield from`: a loop that breaks early closes this
        # iterator, not the answer being produced, so `finish` can still complete it.
        while self.answer is None:
            try:
                piece = next(self._pieces)
            except StopIteration as done:
                self.answer = done.value
                return
            yield piece

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
    embed: Embed | None = None,
    curated: Callable[[str], CuratedReply | None] | None = None,
) -> AnswerStream:
    """Answer `question`, retrieving with `search_query` (a standalone form of it).

    `embed`, when given, is the agent's embedder: the reader uses its question-passage
    similarity to find the passage that answers. `curated`, when given, is consulted first with
    `search_query`: the curated reply it returns is the answer, without retrieval or the model.
    """
    mode = grounding_mode(settings.grounding)
    thresholds = settings.thresholds or thresholds_for(mode)
    trace = AnswerTrace()
    embed = _remembering(embed) if embed is not None else None

    def abstain(hits: Sequence[SearchHit]) -> AnswerPieces:
        answer = _abstention(question, search_query, hits, settings)
        yield answer.text
        return answer

    def pieces() -> AnswerPieces:
        if curated is not None:
            trace.curated = curated(search_query)
            if trace.curated is not None:
                yield trace.curated.answer
                return _curated_answer(trace.curated, question, search_query)
        hits = search(search_query, settings.top_k)
        trace.hits = list(hits)
        if not hits:
            return (yield from abstain(hits))
        if mode != "off":
            # The standalone query: a follow-up's own words lack the topic.
            trace.gate = should_attempt_answer(search_query, hits, thresholds, settings.answerability)
            if not trace.gate.answer:
                return (yield from abstain(hits))
        generator = load_generator()
        terms = question_terms(search_query)
        shown = None
        if settings.generation.prompt_excerpts:
            shown = excerpts(
                search_query, terms, hits, embed=embed,
                per_source=settings.generation.prompt_excerpts,
            )
        plan = build_prompt(
            system_prompt=settings.system_prompt,
            question=question,
            hits=hits,
            history=history,
            context_window=generator.context_window,
            max_answer_tokens=settings.generation.max_answer_tokens,
            count_tokens=generator.count_tokens,
            excerpts=shown,
        )
        # The source sentence that best matches the question: the reply's first claim must be
        # what it says, and it is the answer when nothing of the reply stands.
        quote = read(search_query, terms, plan.sources, embed=embed) if mode != "off" else None
        grounder = StreamingGrounder(plan.sources, question=search_query, mode=mode, thresholds=thresholds, anchor=quote)
        parts: list[str] = []
        for piece in generator.stream(
            plan.messages,
            max_tokens=settings.generation.max_answer_tokens,
            temperature=settings.generation.temperature,
        ):
            parts.append(piece)
            yield from grounder.feed("".join(parts))
            if grounder.settled:
                break  # closing the stream stops generation
        trace.raw_reply = "".join(parts)
        yield from grounder.feed(trace.raw_reply, final=True)
        grounded = grounder.result()
        if grounded.abstained and quote is not None and not grounded.refused:
            # The gate found the evidence strong but the model's words do not stand:
            # answer with the source sentence that best matches the question, verbatim.
            grounded = _quoted(grounded, quote)
            yield grounded.text
        trace.grounded = grounded
        if not grounded.abstained:
            return Answer(
                text=grounded.text,
                citations=[Citation.from_hit(n, plan.sources[n - 1]) for n in grounded.cited_numbers],
                abstained=False,
                question=question,
                search_query=search_query,
            )
        if mode == "off":
            # The words were already shown; the answer is marked as the model's own "I don't know".
            return Answer(
                text=printable(trace.raw_reply).strip(),
                citations=_closest(hits),
                abstained=True,
                question=question,
                search_query=search_query,
            )
        return (yield from abstain(hits))

    return AnswerStream(pieces(), trace)


def _curated_answer(reply: CuratedReply, question: str, search_query: str) -> Answer:
    """The owner's answer, cited as "curated answer" with its source (if it has one)."""
    citation = Citation(
        n=1,
        title=CURATED_ANSWER_TITLE,
        uri=reply.source or "",
        page=None,
        chunk_id=0,
        score=round(reply.score, 4),
        text=reply.question,
    )
    return Answer(
        text=reply.answer, citations=[citation], abstained=False, question=question, search_query=search_query
    )


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


def _remembering(embed: Embed) -> Embed:
    """`embed` that computes each distinct text once per answer: the prompt's excerpts and the
    reader score the same passages, and a passage must score the same both times."""
    import numpy as np

    known: dict[str, np.ndarray] = {}

    def remembered(texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(text for text in texts if text not in known))
        if missing:
            known.update(zip(missing, embed(missing), strict=True))
        return np.stack([known[text] for text in texts])

    return remembered
