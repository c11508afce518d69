"""Evidence quotes: the source sentence that best answers a question, quoted verbatim.

The default model is small: on SQuAD its reply contains the gold answer for about one
answerable question in five (20.7% with grounding off, `benchmarks/README.md`), and grounding
then removes most of its sentences as unsupported. The sources themselves usually do hold the
answer: the sentence of a retrieved passage that shares the most of the question's weighted
terms contains the gold answer for about 70% of answerable SQuAD questions (figures below). So when the gate lets a question through but no sentence
of the model's reply survives the support check, the answer is that sentence, quoted as
written and cited. A quote is grounded by construction: it is the source's own words.

A sentence only qualifies when it holds enough of the question (`MIN_QUOTE_COVERAGE`; the
title and headings of its document count, as they do for grounding, though for ranking only
half, since every sentence of the document shares them) and says something the question does
not (a sentence that merely repeats the question's words answers nothing, and neither does
the document's title line); each row of a
Markdown table counts as a sentence, with its header row as context.

Among those, the ranking weighs each question term by how few candidates hold it, and a
sentence that holds the kind of thing the question asks for ranks higher (`ANSWER_TYPE_BONUS`):
a duration for "how long", a year or month for "when", a number for "how many", a name the
question lacks for "who". Measured on SQuAD's answerable questions (best sentence contains the
gold answer), calibration half / report half: plain coverage 72.1% / 68.6%; with any-number
and name bonus 76.1% / 71.1% (before the 50% floor); as shipped (floor, titles, rarity, typed
answers) 74.7% / 69.9%.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentkit.answering.support import (
    Terms,
    coverage,
    ends_with_abbreviation,
    extract_terms,
    split_sentences,
    strip_citations,
)
from agentkit.results import SearchHit

# A quote must hold at least half of the question's weighted terms; below that the sentence
# is about something else and quoting it would look like an answer without being one.
MIN_QUOTE_COVERAGE = 0.5
# Quotes longer than this many characters are cut at a word boundary (and marked with ...).
MAX_QUOTE_CHARS = 400
ELLIPSIS = "..."
# Titles shorter than this ("FAQ") may well begin a real sentence.
MIN_TITLE_CHARS = 12
# Added to a sentence's rank when it holds the kind of answer the question asks for (flat on
# SQuAD's calibration half from 0.1 to 0.3; 0.2 lets "36 months" beat a sentence that only
# names the product for "How long is the warranty of the QB-200?").
ANSWER_TYPE_BONUS = 0.2

# What a question asks for, and what in a sentence looks like it.
_ASKS_FOR_DURATION = re.compile(r"^\W*how\s+(?:long|old|often)\b", re.IGNORECASE)
_ASKS_FOR_TIME = re.compile(
    r"^\W*when\b|\b(?:what|which|in\s+what|in\s+which)\s+(?:year|date|century|decade|month|day)\b",
    re.IGNORECASE,
)
_ASKS_FOR_AMOUNT = re.compile(
    r"^\W*how\s+(?:many|much|large|big|far|tall|high|heavy|fast|wide|deep)\b|\b(?:what|which)\s+(?:percentage|percent|number|amount)\b",
    re.IGNORECASE,
)
_DURATION = re.compile(
    r"\d+(?:[.,]\d+)?\s*-?\s*(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century)\b|"
    r"\b(?:daily|weekly|monthly|yearly|annually|hourly)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b(?:1\d{3}|20\d{2})s?\b|\b\d{1,2}(?:st|nd|rd|th)\s+century\b|"
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b"
)
# A Markdown heading underline or rule glued to the sentence that follows it ("----- Text").
_RULE_PREFIX = re.compile(r"^(?:[-=_*#~]{3,}\s*)+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|[\s:|-]+\|\s*$")
_ANY_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ASKS_FOR_PERSON = re.compile(r"\bwho(?:m|se)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Quote:
    """A sentence of source `number` (1-based, as in the prompt) and how much of the question it holds."""

    number: int
    text: str
    question_coverage: float
    evidence: frozenset[str] = frozenset()  # the sentence's terms with its title's and table header's


@dataclass(frozen=True)
class _Candidate:
    number: int
    position: int
    sentence: str
    found: Terms
    own: frozenset[str]  # the sentence's terms with its table header's
    evidence: frozenset[str]  # ... and its document's title and headings


def best_quote(question: str, terms: Terms, sources: Sequence[SearchHit]) -> Quote | None:
    """The sentence that holds the most of the `question`'s `terms`; None when none qualifies.

    Ranking weighs each question term by how few of the candidate sentences hold it: in a guide
    about "Quillstack Box QB-200" every sentence names the box, and only the few about its
    warranty answer "How long is the warranty of the Quillstack Box QB-200?". Ties go to the
    better-ranked source, then to the earlier sentence.
    """
    if not terms:
        return None
    question_keys = set(terms.weights)
    candidates = [
        candidate
        for number, hit in enumerate(sources, start=1)
        for candidate in _candidates(number, hit, question_keys)
        if coverage(terms, candidate.evidence) >= MIN_QUOTE_COVERAGE
    ]
    if not candidates:
        return None
    focused = _rarity_weighted(terms, [candidate.evidence for candidate in candidates])
    wanted = _answer_pattern(question)
    wants_name = bool(_ASKS_FOR_PERSON.search(question))

    def rank(candidate: _Candidate) -> tuple[float, int, int]:
        # The title is shared by every sentence of the document: it lets a sentence qualify
        # but must not make them all equal, so what the sentence says itself counts half.
        value = (coverage(focused, candidate.own) + coverage(focused, candidate.evidence)) / 2
        found = candidate.found
        if wanted is not None:
            if _holds_new(wanted, candidate.sentence, question):
                value += ANSWER_TYPE_BONUS
        elif wants_name and found.names - question_keys:
            value += ANSWER_TYPE_BONUS
        return (value, -candidate.number, -candidate.position)

    best = max(candidates, key=rank)
    return Quote(
        number=best.number,
        text=_shortened(best.sentence),
        question_coverage=coverage(terms, best.evidence),
        evidence=best.evidence,
    )


def _answer_pattern(question: str) -> re.Pattern[str] | None:
    """What an answer to `question` holds: a duration, a time, an amount; None if not a number."""
    if _ASKS_FOR_DURATION.search(question):
        return _DURATION
    if _ASKS_FOR_TIME.search(question):
        return _TIME
    if _ASKS_FOR_AMOUNT.search(question):
        return _ANY_NUMBER
    return None


def _holds_new(pattern: re.Pattern[str], sentence: str, question: str) -> bool:
    """Whether the sentence holds a match of `pattern` that the question does not."""
    asked = {match.lower() for match in pattern.findall(question)}
    return any(match.lower() not in asked for match in pattern.findall(sentence))


def _candidates(number: int, hit: SearchHit, question_keys: set[str]) -> list[_Candidate]:
    """The quotable sentences of one source that say something beyond the question."""
    # A sentence under "Quillstack > Configuration" speaks of Quillstack without naming it.
    title_terms = frozenset(extract_terms(" ".join((hit.title, *hit.heading_path))).weights)
    found_here: list[_Candidate] = []
    for position, (written, context) in enumerate(quotable_units(hit.text)):
        sentence = strip_citations(written)  # the source's own [n] marks mean nothing here
        if _is_title_line(sentence, hit.title):
            continue  # "Quillstack Box QB-200: Hardware Guide ... revision C" names, it does not answer
        found = extract_terms(sentence)
        if not set(found.weights) - question_keys:
            continue  # says nothing beyond the question
        own = frozenset(found.weights) | (frozenset(extract_terms(context).weights) if context else frozenset())
        found_here.append(_Candidate(number, position, sentence, found, own, own | title_terms))
    return found_here


def _rarity_weighted(terms: Terms, units: Sequence[frozenset[str]]) -> Terms:
    """The question's terms, each weight scaled by log(1 + units / units holding the term)."""
    count = len(units)
    weights = {
        term: weight * math.log(1.0 + count / (1 + sum(term in unit for unit in units)))
        for term, weight in terms.weights.items()
    }
    return Terms(weights=weights, names=terms.names, numbers=terms.numbers)


def quotable_units(text: str) -> list[tuple[str, str]]:
    """(unit, context) pairs: the sentences of `text`, and each Markdown table row on its own.

    A table is one "sentence" to the splitter (no full stops), but each row states one fact:
    "| `attachments.max_size` | `64 MB` | Largest attachment |". A row's context is its
    table's header row (what the columns mean: "Key | Default | Meaning"); a sentence has none.
    Separator rows are skipped.
    """
    units: list[tuple[str, str]] = []
    prose: list[str] = []
    header = ""
    for line in text.splitlines():
        if not _TABLE_ROW.match(line):
            prose.append(line)
            header = ""
            continue
        units.extend((sentence, "") for sentence in split_sentences("\n".join(prose)))
        prose = []
        if _TABLE_SEPARATOR.match(line):
            continue
        if not header:
            header = line.strip()
        units.append((line.strip(), "" if line.strip() == header else header))
    units.extend((sentence, "") for sentence in split_sentences("\n".join(prose)))
    return units


def quoted_answer(quote: Quote) -> str:
    """The quote as an answer: the source's sentence with its [n] mark."""
    text = quote.text.rstrip()
    if text.endswith((".", "!", "?")) and not text.endswith(ELLIPSIS) and not ends_with_abbreviation(text):
        return f"{text[:-1].rstrip()} [{quote.number}]{text[-1]}"
    return f"{text} [{quote.number}]"


def _is_title_line(sentence: str, title: str) -> bool:
    """Whether the sentence is the document's title line (a PDF's first line, say)."""
    wanted = " ".join(title.lower().split())
    return len(wanted) >= MIN_TITLE_CHARS and " ".join(sentence.lower().split()).startswith(wanted)


def _shortened(sentence: str) -> str:
    flat = _RULE_PREFIX.sub("", " ".join(sentence.split()))
    if len(flat) <= MAX_QUOTE_CHARS:
        return flat
    cut = flat[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0]
    return f"{cut} {ELLIPSIS}"
