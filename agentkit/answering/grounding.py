"""Grounding: check every sentence of a reply against the sources, cite them, or abstain.

The model is small and fluent; it neither cites reliably nor admits ignorance. Asked "What is
the capital of Australia?" next to sources about Norman history, SmolLM2-135M says "Canberra".
A prompt line ("answer only from the sources") does not stop that, so agentkit enforces
grounding in code. Before generation, the gate (`agentkit.answering.gate`) decides from retrieval
evidence whether to call the model at all. Then:

1. While the reply is generated, `StreamingGrounder` splits it into sentences and, as each one
   is complete, scores it against each numbered source (`agentkit.answering.support`): the
   weighted share of the sentence's terms found in the source's best window (lexical support)
   and whether the source holds every name and number of the sentence. A source *supports* a
   sentence when its lexical support reaches `min_sentence_support`, it lacks none of the
   sentence's names and numbers, and it holds every link of the sentence as written (URL,
   web or e-mail address: an injected link must not ride on well-supported words). The
   supporting sources become the sentence's [n] marks; a
   mark the model wrote is kept only if that source supports the sentence. A reply written
   from memory has no such source and is dropped, whatever the model cited. `ground_answer`
   is the same grounder run over a finished reply.

   - `strict`: one unsupported sentence turns the whole answer into an abstention;
   - `balanced` (the default): unsupported sentences are removed; if none is left, abstain;
   - `off`: the reply as written, citing every source the prompt held.

   A reply that opens with the model saying it does not know is an abstention in every
   mode; in a longer reply, what follows such a sentence is ignored. Support is judged
   lexically (an embedding check measured no gain; see `GroundingThresholds`).

   A claim of fewer than `SHORT_CLAIM_TERMS` terms ("The answer is: 10.") is judged together
   with the question's terms. Given an `anchor` (the source sentence that best matches the
   question, `agentkit.answering.quoting`), the reply's first claim must also be what that sentence
   says, numbers and negation included; otherwise the reply is void.

2. When the gate said yes but no sentence of the reply is supported (in `strict`: not every
   sentence is; or the first claim is off the anchor), the answer is the anchor sentence,
   quoted verbatim with its [n] (done by `agentkit.answering.pipeline`). Only when no sentence
   qualifies, or the model said it does not know, is the answer an abstention.

Sentences without any content word ("Sure!"), bare list numbers ("2.") and lead-ins that
end with a colon ("The source that answers this is:") are neither evidence nor claims; they
are dropped in `balanced` and `strict` mode and never cause an abstention.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from agentkit.answering.quoting import Quote
from agentkit.answering.reader import asked_kind, holds_new
from agentkit.answering.support import (
    NEGATION_TERM,
    SourceEvidence,
    SupportScore,
    Terms,
    cited_numbers,
    coverage,
    extract_terms,
    links_in,
    merge_terms,
    prepare_source,
    printable,
    question_terms,
    score_support,
    split_sentences,
    strip_citations,
)
from agentkit.results import SearchHit

GroundingMode = Literal["strict", "balanced", "off"]
GROUNDING_MODES: tuple[GroundingMode, ...] = ("strict", "balanced", "off")
DEFAULT_GROUNDING_MODE: GroundingMode = "balanced"

DEFAULT_ABSTENTION_MESSAGE = (
    "I don't know based on the sources I have. The closest sources I found are listed below."
)

_SOURCE_WORDS = r"(?:sources?|context|passages?|documents?|texts?|information\s+provided|provided\s+information)"
_REFUSAL = re.compile(
    r"\bi\s+(?:do\s+not|don't|dont)\s+know\b|\bi\s+am\s+not\s+sure\b|\bi'm\s+not\s+sure\b|"
    r"\b(?:i\s+)?(?:can\s*not|can't|cannot|am\s+unable\s+to|unable\s+to)\s+(?:answer|find|determine|tell)\b|"
    r"^\W*(?:there\s+is\s+)?no\s+(?:information|mention)\b|"
    r"\bnot\s+(?:mentioned|provided|specified|stated|given|found)\s+in\s+the\s+" + _SOURCE_WORDS + r"|"
    r"\b" + _SOURCE_WORDS + r"\s+(?:do|does|did)\s*(?:not|n't)\s+(?:contain|mention|say|specify|provide|include|answer)|"
    r"\bnot\s+(?:a\s+)?(?:valid|correct|direct)\s+answer\b|"
    r"^\W*(?:i\s+apologi[sz]e|i\s+am\s+sorry|i'm\s+sorry|sorry)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class GroundingThresholds:
    """Calibrated decision thresholds (see the module docstring and the benchmark).

    min_retrieval_score: cosine similarity of the best chunk below which no answer is tried.
    min_question_coverage: weighted share of the question's terms that one window of one
        retrieved chunk must hold for an answer to be tried (a floor under the model).
    min_answerability: probability from the answerability model below which no answer is
        tried.
    min_sentence_support: weighted share of a sentence's terms that a source's best window
        must hold for the source to support the sentence.
    """

    # Calibrated with benchmarks/grounding_squad.py on the calibration half of SQuAD 2.0 dev
    # (8 of its 16 articles, all 2808 questions: 1344 answerable, 1464 unanswerable), with
    # all-MiniLM-L6-v2, hybrid retrieval and top_k 3. The gate alone (share of answerable
    # questions let through / share of unanswerable ones stopped), answerability AUC 0.754:
    #   min_answerability 0.40: 81% / 55%      0.55: 61% / 75%
    #                     0.45: 75% / 61%  <- balanced (the default)
    #                     0.50: 69% / 68%      0.60: 51% / 82%  <- strict
    # The old single rule (window coverage >= 0.75) gave 68% / 51% on the same questions
    # (AUC 0.632). On the report half the model's AUC is lower (0.68): SQuAD's unanswerable
    # questions differ from a passage by one word, and words and cosines can only see so much.
    # So the bar is a cost ratio, not a fit. On the project's own demo questions
    # (tests/fixtures/demo_qa.jsonl, 22 answerable, 8 not) 0.45 lets through 16 of 22
    # answerable questions and both `make demo` questions, and stops 7 of 8 unanswerable ones;
    # 0.60 lets through 11 of 22 and stops all 8. Hence: `balanced` answers what ordinary
    # documents answer; `strict` trades answers for fewer wrong ones.
    # The cosine floor is kept low on purpose: cosine scales differ between embedders while
    # word coverage does not (the answerability model uses cosines only with the default
    # embedder; see `agentkit.answering.answerability.shipped_model`).
    # Sentence support 0.60, on 82 calibration replies behind the earlier coverage gate (>= 0.75): unanswerable questions
    # answered fell from 4 to 2 (of 40) while answerable ones answered stayed 9 (of 42); 0.80
    # and above start to drop right answers.
    # An embedding check (cosine of sentence and window) was tried on the same replies: it never
    # rejected a wrong sentence that lexical support accepted and did reject a right one ("The
    # answer is: 23 years.", cosine 0.19), so support is judged on words alone.
    min_retrieval_score: float = 0.20
    min_question_coverage: float = 0.50
    min_answerability: float = 0.45
    min_sentence_support: float = 0.60

    def __post_init__(self) -> None:
        for name in (
            "min_retrieval_score",
            "min_question_coverage",
            "min_answerability",
            "min_sentence_support",
        ):
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"grounding threshold {name} must be between -1 and 1, got {value}")


DEFAULT_THRESHOLDS = GroundingThresholds()
# `strict` asks more of the retrieval evidence (see the numbers above).
STRICT_THRESHOLDS = GroundingThresholds(min_answerability=0.60)


def thresholds_for(mode: str) -> GroundingThresholds:
    """The calibrated thresholds of a grounding mode (`off` uses none of them)."""
    return STRICT_THRESHOLDS if mode == "strict" else DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class SentenceReport:
    """What grounding decided about one sentence of the reply."""

    text: str
    supported: bool
    filler: bool
    sources: tuple[int, ...]
    model_citations: tuple[int, ...]
    dropped_citations: tuple[int, ...]
    best_lexical: float
    missing: tuple[str, ...] = ()
    refusal: bool = False
    off_anchor: bool = False  # the first claim, and not what the best-matching passage says

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "supported": self.supported,
            "filler": self.filler,
            "sources": list(self.sources),
            "model_citations": list(self.model_citations),
            "dropped_citations": list(self.dropped_citations),
            "best_lexical": round(self.best_lexical, 4),
            "missing": list(self.missing),
            "refusal": self.refusal,
            "off_anchor": self.off_anchor,
        }


@dataclass(frozen=True)
class GroundedAnswer:
    """The reply after grounding. When `abstained`, `text` is empty: show the abstention message."""

    text: str
    cited_numbers: tuple[int, ...]
    abstained: bool
    reason: str
    sentence_reports: tuple[SentenceReport, ...] = field(default_factory=tuple)
    quoted: bool = False  # the text is a source sentence quoted verbatim (`agentkit.answering.quoting`)

    @property
    def refused(self) -> bool:
        """Whether the model said it does not know (then no quote stands in for the reply)."""
        return any(report.refusal for report in self.sentence_reports)


def grounding_mode(value: str) -> GroundingMode:
    """`value` as a grounding mode; a ValueError naming the modes if it is none of them."""
    for mode in GROUNDING_MODES:
        if value == mode:
            return mode
    raise ValueError(f"grounding must be one of {', '.join(GROUNDING_MODES)}, got {value!r}")


def abstention_message(configured: str | None) -> str:
    """The agent's own abstention message, or the default one."""
    if configured and configured.strip():
        return configured.strip()
    return DEFAULT_ABSTENTION_MESSAGE


def is_refusal(text: str) -> bool:
    """Whether the model says it does not know (or that the sources do not say)."""
    return bool(_REFUSAL.search(text))


def prepare_sources(sources: Sequence[SearchHit]) -> list[SourceEvidence]:
    """The numbered sources (1-based, in the order given) ready for support scoring."""
    return [
        prepare_source(n, hit.text, title=" ".join((hit.title, *hit.heading_path)))
        for n, hit in enumerate(sources, start=1)
    ]


def ground_answer(
    raw_text: str,
    sources: Sequence[SearchHit],
    *,
    question: str,
    mode: GroundingMode = DEFAULT_GROUNDING_MODE,
    thresholds: GroundingThresholds = DEFAULT_THRESHOLDS,
    anchor: Quote | None = None,
) -> GroundedAnswer:
    """Check each sentence of a finished reply against the numbered `sources`; cite or drop it.

    This is `StreamingGrounder` fed the whole reply at once, so a streamed answer and a
    grounded finished reply are judged by the same code.
    """
    grounder = StreamingGrounder(sources, question=question, mode=mode, thresholds=thresholds, anchor=anchor)
    for _shown in grounder.feed(raw_text, final=True):
        pass  # what a stream would show; the result holds the answer
    return grounder.result()


class StreamingGrounder:
    """Grounds a reply while it is generated: feed it the text so far, show what it yields.

    Each sentence is judged as soon as it is complete (`SentenceGrounder`). What is yielded
    depends on the mode: in `balanced`, each supported sentence with its verified [n] marks;
    in `strict`, the whole answer once the reply is final and every claim stands; in `off`,
    the text as written. Judging stops at a sentence in which the model says it does not know,
    at a first claim that is not what `anchor` says, at an unsupported claim in `strict` and at
    an unsupported claim after a shown one in `balanced` (`settled`: the generator can stop).
    After the final feed, `result()` is the grounded answer.

    A sentence with fewer than `SHORT_CLAIM_TERMS` content terms ("The answer is: 10.") is
    judged together with the terms of `question`.
    """

    def __init__(
        self,
        sources: Sequence[SearchHit],
        *,
        question: str,
        mode: str = DEFAULT_GROUNDING_MODE,
        thresholds: GroundingThresholds = DEFAULT_THRESHOLDS,
        anchor: Quote | None = None,
    ) -> None:
        self.mode = grounding_mode(mode)
        self.source_count = len(sources)
        self.reports: list[SentenceReport] = []
        # `off` judges nothing: no need to prepare the sources.
        self._judge = (
            None
            if self.mode == "off"
            else SentenceGrounder(sources, thresholds=thresholds, question=question, anchor=anchor)
        )
        self._text = ""
        self._final = False
        self._stopped = False
        self._shown_sentences = 0
        self._shown_chars = 0

    def feed(self, text_so_far: str, *, final: bool = False) -> Iterator[str]:
        """Judge what is complete of the reply so far and yield what may be shown of it now.

        `final`: the reply is finished (its last sentence is complete, or was cut off by the
        token limit and is dropped).
        """
        self._text, self._final = text_so_far, final
        if self.mode == "off":
            new_text = printable(text_so_far[self._shown_chars :])
            self._shown_chars = len(text_so_far)
            if new_text:
                yield new_text
            return
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
        assert self._judge is not None
        while not self._stopped and len(self.reports) < len(sentences):
            report = self._judge.judge(sentences[len(self.reports)])
            self.reports.append(report)
            if report.refusal or report.off_anchor:
                self._stopped = True  # what follows "I don't know", or a claim beside the point, is not an answer
            elif not report.supported and not report.filler and (self.mode == "strict" or self._shown_sentences):
                # strict: one unsupported claim and nothing is shown, whatever follows.
                # balanced: a reply that has answered and then claims what the sources do not
                # say has wandered off (a small model goes on about citing, or recites other
                # sources); what follows is not shown either.
                self._stopped = True
            elif report.supported and self.mode == "balanced":
                yield (" " if self._shown_sentences else "") + cited_sentence(report)
                self._shown_sentences += 1
        if final and self.mode == "strict":
            grounded = self.result()
            if not grounded.abstained:
                yield grounded.text

    @property
    def settled(self) -> bool:
        """Nothing more of the reply can change what is shown or the result: the generator
        may stop (each token a small model writes after that is time lost)."""
        return self._stopped

    def result(self) -> GroundedAnswer:
        """The grounded answer; call it after the final `feed`."""
        assert self._final, "feed the finished reply (final=True) first"
        text = self._text.strip()
        reports = tuple(self.reports)
        if not text:
            return GroundedAnswer("", (), True, "the model returned nothing")
        if self.mode == "off":
            first = _non_claim(split_sentences(text)[0])
            if first is not None and first.refusal:
                return GroundedAnswer("", (), True, "the model said it does not know", (first,))
            return GroundedAnswer(printable(text), tuple(range(1, self.source_count + 1)), False, "grounding is off")
        if not self.source_count and not any(report.refusal for report in reports):
            return GroundedAnswer("", (), True, "there are no sources to support an answer", reports)
        return conclude(reports, self.mode)


def without_unfinished_tail(sentences: Sequence[str]) -> list[str]:
    """Drop a last sentence that the token limit cut off mid-way (no final punctuation).

    It is not a claim the model finished making, so it neither counts against the answer
    nor is shown. A reply that is one unfinished sentence is kept: it is all there is.
    """
    if len(sentences) > 1 and not _FINISHED.search(sentences[-1]):
        return list(sentences[:-1])
    return list(sentences)


# A sentence with fewer content terms than this is judged together with the question's terms.
SHORT_CLAIM_TERMS = 3
# "2." or "(3)" alone: the number of a list item the splitter cut off, not a claim. A lead-in
# that ends with a colon ("The correct answer is:") announces a claim without making it.
_BARE_LIST_MARK = re.compile(r"^\W*\d{1,3}\W*$")
_FINISHED = re.compile(r"[.!?:;][\"')\]\s]*(?:\[\d{1,3}\]\s*)*[.!?]?\s*$")


def conclude(reports: Sequence[SentenceReport], mode: GroundingMode) -> GroundedAnswer:
    """The grounded answer from the judged sentences, by the rules of `mode`."""
    claims = [report for report in reports if not report.filler]
    unsupported = [report for report in claims if not report.supported]
    if not claims:
        reason = "the model said it does not know" if any(r.refusal for r in reports) else "the reply makes no claim"
        return GroundedAnswer("", (), True, reason, tuple(reports))
    if claims[0].off_anchor:
        return GroundedAnswer(
            "", (), True, "the reply's first claim is not what the best-matching source sentence says", tuple(reports)
        )
    if mode == "strict" and unsupported:
        return GroundedAnswer(
            "",
            (),
            True,
            f"{len(unsupported)} of {len(claims)} sentences are not supported by the sources",
            tuple(reports),
        )
    kept = [report for report in claims if report.supported]
    if not kept:
        return GroundedAnswer("", (), True, "no sentence is supported by the sources", tuple(reports))
    cited = sorted({number for report in kept for number in report.sources})
    reason = "every sentence is supported"
    if unsupported:
        reason = f"removed {len(unsupported)} unsupported sentence(s)"
    return GroundedAnswer(
        " ".join(cited_sentence(report) for report in kept), tuple(cited), False, reason, tuple(reports)
    )


def _non_claim(sentence: str) -> SentenceReport | None:
    """The report of a sentence that claims nothing: the model saying it does not know, or
    filler ("Sure!", "2.", "The answer is:"); None for a claim."""
    written = tuple(cited_numbers(sentence))
    plain = strip_citations(sentence)
    if is_refusal(plain):
        return SentenceReport(plain, False, True, (), written, written, 0.0, refusal=True)
    if not extract_terms(plain) or _BARE_LIST_MARK.match(plain) or plain.rstrip().endswith(":"):
        return SentenceReport(plain, False, True, (), written, written, 0.0)
    return None


class SentenceGrounder:
    """Judges sentences one at a time against sources prepared once."""

    def __init__(
        self,
        sources: Sequence[SearchHit],
        *,
        thresholds: GroundingThresholds = DEFAULT_THRESHOLDS,
        question: str = "",
        anchor: Quote | None = None,
    ) -> None:
        self.evidence = prepare_sources(sources)
        self.source_texts = [source.text.lower() for source in sources]
        self.thresholds = thresholds
        self.question = question
        self.question_terms = question_terms(question)
        self.anchor = anchor
        # When the anchor holds what the question asks for (a flag, a version, a number), the
        # first claim must hold it too: "Use the option of the command [1]." drops the flag.
        self.asked_kind = asked_kind(question) if anchor is not None and anchor.holds_asked_kind else None
        self.claims_judged = 0

    def judge(self, sentence: str) -> SentenceReport:
        non_claim = _non_claim(sentence)
        if non_claim is not None:
            return non_claim
        written = tuple(cited_numbers(sentence))
        plain = strip_citations(sentence)
        terms = extract_terms(plain)
        claim = terms
        if len(terms.weights) < SHORT_CLAIM_TERMS:
            # "The answer is: 10." claims something about the question: the passage that backs
            # it must also hold what the question asks about, not just the number.
            claim = merge_terms(terms, self.question_terms)
        scores = [score_support(claim, source) for source in self.evidence]
        supporting = [score for score in scores if _supports(score, self.thresholds)]
        links = links_in(plain)
        if links:
            # A link is never paraphrased: a source supports a sentence with a link only if it
            # holds that very link (an injected "see http://..." rides on well-supported words).
            supporting = [
                score
                for score in supporting
                if all(link in self.source_texts[score.number - 1] for link in links)
            ]
        best = max(scores, key=lambda score: score.lexical, default=None)
        chosen = _choose_citations(supporting, written)
        first_claim = self.claims_judged == 0
        self.claims_judged += 1
        off_anchor = first_claim and self.anchor is not None and not self._agrees_with_anchor(claim, plain)
        if off_anchor:
            chosen = ()
        return SentenceReport(
            text=plain,
            supported=bool(chosen),
            filler=False,
            sources=chosen,
            model_citations=written,
            dropped_citations=tuple(number for number in written if number not in chosen),
            best_lexical=best.lexical if best is not None else 0.0,
            missing=best.missing if best is not None else (),
            off_anchor=off_anchor,
        )

    def _agrees_with_anchor(self, claim: Terms, text: str) -> bool:
        """Whether the best-matching source passage itself backs the claim (numbers and
        negation included): "The server uses port 7431" does not answer which port the admin
        console uses when the sentence about the admin console says 7432. When the passage
        holds the kind of thing asked for, the claim must hold one too."""
        assert self.anchor is not None
        evidence = self.anchor.evidence
        anchored = claim.numbers | ({NEGATION_TERM} & set(claim.weights))
        if self.asked_kind is not None and not holds_new(self.asked_kind, text, self.question):
            return False
        # What the claim adds to the question must come from the passage itself: "The
        # Meta-Data extension is not parsed as YAML" shares the title's words with the passage
        # that answers where the metadata is, and says something else.
        added = {term: weight for term, weight in claim.weights.items() if term not in self.question_terms.weights}
        if added and coverage(Terms(added, frozenset(), frozenset()), evidence) < self.thresholds.min_sentence_support:
            return False
        return coverage(claim, evidence) >= self.thresholds.min_sentence_support and anchored <= evidence


def _supports(score: SupportScore, thresholds: GroundingThresholds) -> bool:
    return not score.missing and score.lexical >= thresholds.min_sentence_support


def _choose_citations(supporting: Sequence[SupportScore], written: Sequence[int]) -> tuple[int, ...]:
    """The best supporting source, plus any the model cited that also support the sentence."""
    if not supporting:
        return ()
    best = max(supporting, key=lambda score: (score.lexical, -score.number))
    chosen = {best.number}
    chosen.update(score.number for score in supporting if score.number in written)
    # Sources that support the sentence just as well are cited too (at most three marks).
    for score in sorted(supporting, key=lambda s: (-s.lexical, s.number)):
        if len(chosen) >= 3:
            break
        if score.lexical >= best.lexical - 1e-9:
            chosen.add(score.number)
    return tuple(sorted(chosen))


def cited_sentence(report: SentenceReport) -> str:
    """The sentence with its [n] marks placed before its final punctuation."""
    marks = "".join(f"[{number}]" for number in report.sources)
    text = printable(report.text).rstrip()
    match = re.search(r"([.!?]+[\"')\]]*)$", text)
    if match:
        return f"{text[: match.start()].rstrip()} {marks}{match.group(1)}"
    return f"{text} {marks}"
