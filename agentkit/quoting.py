"""Evidence quotes: the source sentence that best answers a question, quoted verbatim.

The default model is small: on SQuAD its reply contains the gold answer for about one
answerable question in five (20.7% with grounding off, `benchmarks/README.md`), and grounding
then removes most of its sentences as unsupported. The sources themselves usually do hold the
answer: the sentence of a retrieved passage that shares the most of the question's weighted
terms contains the gold answer for about 70% of answerable SQuAD questions (figures below). So when the gate lets a question through but no sentence
of the model's reply survives the support check, the answer is that sentence, quoted as
written and cited. A quote is grounded by construction: it is the source's own words.

A sentence only qualifies when it holds enough of the question (`MIN_QUOTE_COVERAGE`; the
title and headings of its document count, as they do for grounding) and
says something the question does not (a sentence that merely repeats the question's words
answers nothing); each row of a Markdown table counts as a sentence. Among those, a sentence that holds the kind of thing the question asks for
ranks higher (`ANSWER_TYPE_BONUS`): a number the question lacks for "when" and "how many"
questions, a name the question lacks for "who" questions. Measured on SQuAD's answerable
questions (best sentence contains the gold answer): calibration half 72.1% -> 76.1%,
report half 68.6% -> 71.1%.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentkit.results import SearchHit
from agentkit.support import (
    Terms,
    coverage,
    ends_with_abbreviation,
    extract_terms,
    split_sentences,
    strip_citations,
)

# A quote must hold at least half of the question's weighted terms; below that the sentence
# is about something else and quoting it would look like an answer without being one.
MIN_QUOTE_COVERAGE = 0.5
# Quotes longer than this many characters are cut at a word boundary (and marked with ...).
MAX_QUOTE_CHARS = 400
ELLIPSIS = "..."
# Added to a sentence's question coverage when it holds the kind of answer the question asks
# for; enough to break near-ties, not to promote a sentence about something else.
ANSWER_TYPE_BONUS = 0.1

_ASKS_FOR_NUMBER = re.compile(
    r"^\W*(?:when|how\s+(?:many|much|long|old|far|large|big|often|tall|high))\b|"
    r"\b(?:what|which|in\s+what)\s+(?:year|date|century|decade|percentage|percent)\b",
    re.IGNORECASE,
)
# A Markdown heading underline or rule glued to the sentence that follows it ("----- Text").
_RULE_PREFIX = re.compile(r"^(?:[-=_*#~]{3,}\s*)+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|[\s:|-]+\|\s*$")
_ASKS_FOR_PERSON = re.compile(r"\bwho(?:m|se)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Quote:
    """A sentence of source `number` (1-based, as in the prompt) and how much of the question it holds."""

    number: int
    text: str
    question_coverage: float
    evidence: frozenset[str] = frozenset()  # the sentence's terms with its title's and table header's


def best_quote(question: str, terms: Terms, sources: Sequence[SearchHit]) -> Quote | None:
    """The sentence that holds the most of the `question`'s `terms`; None when none qualifies.

    Ties go to the better-ranked source, then to the earlier sentence.
    """
    if not terms:
        return None
    question_keys = set(terms.weights)
    wants_number = bool(_ASKS_FOR_NUMBER.search(question))
    wants_name = bool(_ASKS_FOR_PERSON.search(question))
    best: tuple[float, int, int, float, str, frozenset[str]] | None = None
    for number, hit in enumerate(sources, start=1):
        # A sentence under "Quillstack > Configuration" speaks of Quillstack without naming it.
        title_terms = set(extract_terms(" ".join((hit.title, *hit.heading_path))).weights)
        for position, (written, context) in enumerate(quotable_units(hit.text)):
            sentence = strip_citations(written)  # the source's own [n] marks mean nothing here
            found = extract_terms(sentence)
            if not set(found.weights) - question_keys:
                continue  # says nothing beyond the question
            context_terms = set(extract_terms(context).weights) if context else set()
            evidence = frozenset(set(found.weights) | title_terms | context_terms)
            value = coverage(terms, evidence)
            if value < MIN_QUOTE_COVERAGE:
                continue
            rank = value
            if (wants_number and found.numbers - terms.numbers) or (wants_name and found.names - question_keys):
                rank += ANSWER_TYPE_BONUS
            key = (rank, -number, -position, value, sentence, evidence)
            if best is None or key[:3] > best[:3]:
                best = key
    if best is None:
        return None
    _, negative_number, _, value, sentence, evidence = best
    return Quote(number=-negative_number, text=_shortened(sentence), question_coverage=value, evidence=evidence)


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


def _shortened(sentence: str) -> str:
    flat = _RULE_PREFIX.sub("", " ".join(sentence.split()))
    if len(flat) <= MAX_QUOTE_CHARS:
        return flat
    cut = flat[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0]
    return f"{cut} {ELLIPSIS}"
