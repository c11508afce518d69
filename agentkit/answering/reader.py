"""The reader: the passage of the retrieved sources that answers the question, found by reading.

A small model's own sentence often does not stand (grounding removes it), and on
documentation the sentence that shares most words with the question is often not the answer
either: "Which option turns << and >> into guillemets?" shares its words with the table's
introduction, while the answer is the row `smart_angled_quotes | False | whether to convert
angled quotes`. So the reader:

1. cuts each source into *answer units*: sentences, list items, table rows (each with its
   header row as context) and code lines joined to the sentence that explains them (a code
   fragment alone is never an answer);
2. works out what the question asks for (`AnswerKind`): an option, flag or identifier for
   "which option / setting / flag", a version for "in which release / since which version",
   a package or library for "what package / what do I need installed", markup to write for
   "what do I write / what syntax", a number for "how many / how big / what port", a
   duration or a date;
3. scores every unit by the question's rare terms it holds (`coverage`, each term weighted by
   how few units hold it), by the embedder's question–passage similarity when an embedder
   is given (all-MiniLM-L6-v2 was trained on question–answer pairs), and by whether it holds
   the kind of thing asked for that the question itself does not name;
4. never answers with a question from the page, a heading, a title line or a bare code line,
   and among near ties prefers the shorter unit.

The chosen unit is quoted verbatim with its citation (`quoting.quoted_answer`), so it is
grounded by construction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from agentkit.answering.quoting import Quote, shortened
from agentkit.answering.support import Terms, coverage, extract_terms, split_sentences, strip_citations
from agentkit.results import SearchHit

if TYPE_CHECKING:
    import numpy as np

Embed = Callable[[list[str]], "np.ndarray"]


class AnswerKind(Enum):
    OPTION = "an option, flag or identifier"
    VERSION = "a version or release"
    PACKAGE = "a package, library or tool"
    MARKUP = "markup or syntax to write"
    NUMBER = "a number"
    DURATION = "a duration"
    DATE = "a date or year"
    PERSON = "a person or organisation"
    HOW_TO = "a way to do something: an option, a command or markup"


@dataclass(frozen=True)
class AnswerUnit:
    """One quotable passage of source `number` (1-based, as in the prompt)."""

    number: int
    position: int
    text: str  # what is quoted
    context: str  # a row's table header; for other units the source's title and heading path
    kind: str  # "sentence", "item", "row" or "code"


@dataclass(frozen=True)
class _Scored:
    unit: AnswerUnit
    score: float
    question_coverage: float
    holds_asked_kind: bool
    evidence: frozenset[str]


# A unit must hold at least this share of the question's weighted terms (its document's title
# and headings included) to be an answer at all.
MIN_COVERAGE = 0.5
# ... unless the embedder finds it this similar to the question (users' words are not the docs').
MIN_SIMILARITY = 0.45
# Weights of the score's parts, chosen on the docs calibration half and SQuAD's.
COVERAGE_WEIGHT = 1.0
SIMILARITY_WEIGHT = 0.6
KIND_BONUS = 0.25
# "How do I ...?" is answered by an option, a command or markup more often than not, but
# identifiers are everywhere in docs: a weaker hint.
HOW_TO_SHARE = 0.5
# Units within this much of the best score count as ties: the shortest of them wins.
TIE_MARGIN = 0.01
MAX_UNIT_CHARS = 400
MAX_LEAD_ITEMS = 8
MAX_CODE_LINE_CHARS = 160

_ASKS = (
    (AnswerKind.VERSION, re.compile(
        r"\b(?:which|what|since|in|starting with|from|until)\s+(?:\w+\s+){0,2}?(?:release|version)s?\b"
        r"|\b(?:release|version)\s+(?:added|dropped|removed|introduced|deprecated)\b", re.I)),
    (AnswerKind.OPTION, re.compile(
        r"\b(?:which|what)\s+(?:\w+\s+){0,2}?(?:option|setting|flag|switch|parameter|argument|keyword|key|"
        r"config(?:uration)?(?:\s+key)?|attribute|method|function|class|variable|command|entry point)s?\b"
        r"|\bwhat\s+should\s+i\s+(?:use|pass|set)\b|\binstead\b", re.I)),
    (AnswerKind.PACKAGE, re.compile(
        r"\b(?:which|what)\s+(?:\w+\s+){0,2}?(?:package|library|libraries|module|tool|dependency|program)s?\b"
        r"|\bwhat\s+do\s+i\s+need\s+(?:to\s+)?install", re.I)),
    (AnswerKind.MARKUP, re.compile(
        r"\bwhat\s+(?:do|should)\s+i\s+(?:write|type|put)\b|\bwhat\s+syntax\b|\bhow\s+do\s+i\s+(?:write|mark)\b", re.I)),
    (AnswerKind.DURATION, re.compile(r"^\W*how\s+(?:long|old|often)\b", re.I)),
    (AnswerKind.DATE, re.compile(
        r"^\W*when\b|\b(?:what|which|in\s+what|in\s+which)\s+(?:year|date|century|decade|month|day)\b", re.I)),
    (AnswerKind.NUMBER, re.compile(
        r"^\W*how\s+(?:many|much|large|big|far|tall|high|heavy|fast|wide|deep)\b"
        r"|\b(?:what|which)\s+(?:\w+\s+)?(?:percentage|percent|number|amount|port|size|limit|capacity)\b", re.I)),
    (AnswerKind.PERSON, re.compile(r"\bwho(?:m|se)?\b", re.I)),
    (AnswerKind.HOW_TO, re.compile(r"\bhow\s+(?:do|can|should|would)\s+(?:i|we|you)\b|\bhow\s+to\b", re.I)),
)  # fmt: skip

_IDENTIFIER = re.compile(
    r"(?<![\w/])(?:--?[a-z][\w-]*|[A-Za-z_][\w]*_[\w]*|[a-z]+[A-Z][a-z]\w*|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?|\w+\(\))"
)
_VERSION = re.compile(r"(?<![\w.])\d+\.\d+(?:\.\d+)*(?![\w.]*\d)")
_PACKAGE = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*\b|\b[A-Z][A-Za-z]*[a-z][A-Za-z]*\b|\b[a-z]+[-_][a-z]+\b")
# Markup a writer types (not HTML, which the docs show as output).
_MARKUP = re.compile(r"[!*\[\]{}:=#|`~^]{2,}|\[\w[^\]]*\]|\{[:@#.][^}]*\}|^\s*[-*+]\s")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DURATION = re.compile(
    r"\d+(?:[.,]\d+)?\s*-?\s*(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century)\b|"
    r"\b(?:daily|weekly|monthly|yearly|annually|hourly)\b",
    re.I,
)
_DATE = re.compile(
    r"\b(?:1\d{3}|20\d{2})s?\b|\b\d{1,2}(?:st|nd|rd|th)\s+century\b|"
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b"
)
_PATTERNS = {
    AnswerKind.OPTION: _IDENTIFIER,
    AnswerKind.VERSION: _VERSION,
    AnswerKind.PACKAGE: _PACKAGE,
    AnswerKind.MARKUP: _MARKUP,
    AnswerKind.NUMBER: _NUMBER,
    AnswerKind.DURATION: _DURATION,
    AnswerKind.DATE: _DATE,
    AnswerKind.HOW_TO: re.compile(f"{_IDENTIFIER.pattern}|{_MARKUP.pattern}"),
}

# A passage that shows what something is rendered as: "The above results in the following
# output: <p id=...>".
_SHOWS_OUTPUT = re.compile(
    r"\b(?:results? in|rendered as|renders as|the following output|would (?:generate|produce)|output:)", re.I
)
_TITLED_KINDS = frozenset({AnswerKind.VERSION, AnswerKind.DATE})
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$|^[^|\n]+(?:\s\|\s[^|\n]*)+$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+\S")
# A line that is code rather than prose: no sentence end, and symbols or a call in it.
_CODE_LINE = re.compile(
    r"[(){}\[\]=<>]|^\s*(?:#|//|from\b|import\b|def\b|class\b|return\b|\$|>>>|python\b|pip\b|markdown_py\b)"
)
_PROSE_END = re.compile(r"[.!?:]\s*$")
MIN_TITLE_CHARS = 12


def _is_code(line: str) -> bool:
    """A line of code rather than prose: short, no sentence end inside or at the end, and
    symbols or a command in it. (A long paragraph cut mid-sentence by chunking, with a
    parenthesis in it, is prose.)"""
    text = line.strip()
    if not text or len(text) > MAX_CODE_LINE_CHARS or _PROSE_END.search(text) or ". " in text:
        return False
    return bool(_CODE_LINE.search(text))


def asked_kind(question: str) -> AnswerKind | None:
    """What kind of thing `question` asks for; None when it asks for an explanation."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def holds_new(kind: AnswerKind, text: str, question: str) -> bool:
    """Whether `text` holds a thing of `kind` that the question does not already name."""
    if kind is AnswerKind.PERSON:
        asked = {word.lower() for word in re.findall(r"\b[A-Z]\w+", question)}
        return any(word.lower() not in asked for word in re.findall(r"\b[A-Z][a-z]\w+", text[1:]))
    pattern = _PATTERNS[kind]
    asked = {match.lower() for match in pattern.findall(question)}
    return any(match.lower() not in asked for match in pattern.findall(text))


def answer_units(number: int, hit: SearchHit) -> list[AnswerUnit]:
    """The quotable units of one source, in order.

    Sentences and list items stand alone; a table row carries its header row as context; a
    code line is joined to the sentence that introduces it; and a sentence that ends with a
    colon is also offered together with the list items or code lines it introduces ("The
    supported extensions include: Abbreviations; Attribute Lists; ...").
    """
    heading = " > ".join(part for part in (hit.title, *hit.heading_path) if part)
    units: list[AnswerUnit] = []
    header = ""
    lead: list[str] = []  # a sentence ending with ":" and what it has introduced so far

    def add(text: str, context: str, kind: str) -> None:
        flat = " ".join(strip_citations(text).split())
        if kind == "item":
            flat = flat.lstrip("-*+• ")
        if flat:
            units.append(AnswerUnit(number, len(units), flat, context, kind))

    def close_lead() -> None:
        if len(lead) > 1:
            joined = lead[0] + " " + "; ".join(item.lstrip("-*+• ").rstrip(".;") for item in lead[1:])
            add(joined[:MAX_UNIT_CHARS], heading, "list")
        lead.clear()

    prose: list[str] = []

    def flush() -> None:
        for sentence in split_sentences("\n".join(prose)):
            is_item = bool(_LIST_ITEM.match(sentence))
            if lead and is_item and len(lead) < MAX_LEAD_ITEMS:
                lead.append(sentence)
            elif not is_item:
                close_lead()
            add(sentence, heading, "item" if is_item else "sentence")
            if not is_item and sentence.rstrip().endswith(":"):
                lead.append(sentence)
        prose.clear()

    for line in hit.text.splitlines():
        if _TABLE_ROW.match(line) and not _is_code(line.replace("|", "")):
            flush()
            close_lead()
            if _TABLE_SEPARATOR.match(line):
                continue
            if not header:
                header = line.strip()
                continue
            add(line.strip(), header, "row")
            continue
        header = ""
        if _is_code(line):
            explanation = split_sentences("\n".join(prose))
            prose.clear()
            if not explanation and not lead:
                continue  # code with nothing that explains it is never an answer
            for sentence in explanation[:-1]:
                close_lead()
                add(sentence, heading, "sentence")
            if explanation:
                close_lead()
                lead.append(explanation[-1])
            add(f"{lead[0]} {line.strip()}", heading, "code")
            if len(lead) < MAX_LEAD_ITEMS:
                lead.append(line.strip())
            continue
        prose.append(line)
    flush()
    close_lead()
    return units


def read(
    question: str,
    terms: Terms,
    sources: Sequence[SearchHit],
    *,
    embed: Embed | None = None,
) -> Quote | None:
    """The unit of `sources` that best answers `question`; None when none holds enough of it."""
    scored = _scored_units(question, terms, sources, embed)
    if not scored:
        return None
    best = max(scored, key=lambda r: (r.score, -r.unit.number, -r.unit.position))
    ties = [r for r in scored if r.score >= best.score - TIE_MARGIN and r.holds_asked_kind >= best.holds_asked_kind]
    chosen = min(ties, key=lambda r: (len(r.unit.text), -r.score, r.unit.number, r.unit.position))
    return Quote(
        number=chosen.unit.number,
        text=shortened(chosen.unit.text),
        question_coverage=chosen.question_coverage,
        evidence=chosen.evidence,
        holds_asked_kind=chosen.holds_asked_kind,
    )


def excerpts(
    question: str,
    terms: Terms,
    sources: Sequence[SearchHit],
    *,
    embed: Embed | None = None,
    per_source: int,
) -> list[str | None]:
    """For each source, its `per_source` best units in page order (None: keep the whole text;
    "": everything it holds is already shown by a source above, so it can be left out).

    A small model reads a short prompt better than whole chunks, and a CPU evaluates it
    faster; grounding still checks the reply against the whole chunks. Overlapping chunks of
    one page often share passages: a passage is shown once, under the first source holding it
    (and not replaced by a worse one).
    """
    scored = _scored_units(question, terms, sources, embed, everything=True)
    picked: list[str | None] = []
    shown: set[str] = set()
    for number in range(1, len(sources) + 1):
        units = [r for r in scored if r.unit.number == number]
        if not units:
            picked.append(None)
            continue
        best = sorted(units, key=lambda r: -r.score)[:per_source]
        own = [r for r in best if _passage_key(r.unit.text) not in shown]
        shown.update(_passage_key(r.unit.text) for r in own)
        picked.append("\n".join(r.unit.text for r in sorted(own, key=lambda r: r.unit.position)))
    return picked


def _passage_key(text: str) -> str:
    """A passage's text as compared for repeats: case and spacing do not count."""
    return " ".join(text.split()).casefold()


def _scored_units(
    question: str, terms: Terms, sources: Sequence[SearchHit], embed: Embed | None, *, everything: bool = False
) -> list[_Scored]:
    """Every unit that could answer, scored; with `everything`, those below the floors too."""
    if not terms:
        return []
    question_keys = set(terms.weights)
    units: list[AnswerUnit] = []
    evidences: list[tuple[frozenset[str], frozenset[str]]] = []
    for number, hit in enumerate(sources, start=1):
        title_terms = frozenset(extract_terms(" ".join((hit.title, *hit.heading_path))).weights)
        for unit in answer_units(number, hit):
            if not everything and _never_an_answer(unit, hit.title):
                continue
            own = frozenset(extract_terms(unit.text).weights)
            if not everything and not own - question_keys:
                continue  # says nothing the question does not
            if unit.kind == "row":
                own |= frozenset(extract_terms(unit.context).weights)
            units.append(unit)
            evidences.append((own, own | title_terms))
    if not units:
        return []
    similarities = _similarities(question, units, embed)
    keep = [
        i for i, (_, evidence) in enumerate(evidences)
        if everything or coverage(terms, evidence) >= MIN_COVERAGE or similarities[i] >= MIN_SIMILARITY
    ]
    if not keep:
        return []
    focused = _rarity_weighted(terms, [evidences[i][1] for i in keep])
    kind = asked_kind(question)
    scored: list[_Scored] = []
    for i in keep:
        unit, (own, evidence) = units[i], evidences[i]
        value = COVERAGE_WEIGHT * (coverage(focused, own) + coverage(focused, evidence)) / 2
        value += SIMILARITY_WEIGHT * similarities[i]
        holds_kind = kind is not None and holds_new(kind, unit.text, question)
        heading = _heading_holding(kind, sources[unit.number - 1], question) if not holds_kind else None
        if heading is not None:
            # "The toc extension now accepts toc_class" under "Python-Markdown 3.4 Release
            # Notes": the version is in the heading, so the answer quotes the heading with it.
            # (Not the page title: a site's titles often all carry its own version.)
            unit = AnswerUnit(unit.number, unit.position, f"{heading}: {unit.text}", unit.context, unit.kind)
            holds_kind = True
        if holds_kind:
            value += KIND_BONUS * (HOW_TO_SHARE if kind is AnswerKind.HOW_TO else 1.0)
        if kind in (AnswerKind.HOW_TO, AnswerKind.MARKUP) and _SHOWS_OUTPUT.search(unit.text):
            value -= KIND_BONUS  # what the markup turns into is not how to write it
        scored.append(_Scored(unit, value, coverage(terms, evidence), holds_kind, evidence))
    return scored


def _heading_holding(kind: AnswerKind | None, hit: SearchHit, question: str) -> str | None:
    """The heading above a passage that holds the version or date asked for, if one does."""
    if kind not in _TITLED_KINDS:
        return None
    assert kind is not None
    return next((heading for heading in hit.heading_path if holds_new(kind, heading, question)), None)


def _never_an_answer(unit: AnswerUnit, title: str) -> bool:
    """Questions from the page, lead-ins that end with a colon (the unit that joins them to
    what they introduce may be one), title lines and too-short fragments are not answers."""
    text = unit.text.rstrip()
    if text.endswith(("?", ":")) or len(text) < 8:
        return True
    wanted = " ".join(title.lower().split())
    return len(wanted) >= MIN_TITLE_CHARS and " ".join(text.lower().split()).startswith(wanted)


def _similarities(question: str, units: Sequence[AnswerUnit], embed: Embed | None) -> list[float]:
    if embed is None:
        return [0.0] * len(units)
    vectors = embed([question, *(unit.text for unit in units)])
    return [float(value) for value in vectors[1:] @ vectors[0]]


def _rarity_weighted(terms: Terms, units: Sequence[frozenset[str]]) -> Terms:
    """The question's terms, each weight scaled by log(1 + units / units holding the term)."""
    count = len(units)
    weights = {
        term: weight * math.log(1.0 + count / (1 + sum(term in unit for unit in units)))
        for term, weight in terms.weights.items()
    }
    return Terms(weights=weights, names=terms.names, numbers=terms.numbers)
