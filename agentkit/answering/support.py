"""Sentence support: how well a numbered source backs one sentence of an answer.

This module owns the text analysis that grounding (`agentkit.answering.grounding`) and follow-up
rewriting (`agentkit.answering.followup`) build on:

- `split_sentences` cuts an answer into sentences and keeps each sentence's own [n] marks;
- `extract_terms` turns text into weighted *terms* (`question_terms`: those of a question,
  without the words that only frame it): stemmed content words, numbers (digits and
  number words normalised to digits) and names (capitalised words). Numbers and names weigh
  more than other words because they are what a wrong answer usually gets wrong: a small
  model that answers from memory ("Canberra", "1788") introduces names and numbers that no
  source holds;
- `SourceEvidence` is a source prepared once per answer: its terms as a whole and per window of
  two consecutive sentences (a claim is usually stated in one place, not assembled from words
  scattered over a page);
- `score_support` rates one sentence against one source: the weighted share of the sentence's
  terms found in the best window (`lexical`), and the names of the sentence that the whole source
  lacks and the numbers and negation that the window lacks (`missing`).

Everything here is deterministic and cheap; nothing loads a model. Words are stemmed by the
stemmer lexical search uses (`agentkit.index.stemming`), so both match words the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agentkit.index.stemming import stem_words

NAME_WEIGHT = 2.0
NUMBER_WEIGHT = 2.5
WORD_WEIGHT = 1.0

# Words that carry no claim of their own. Negations ("not", "never", "no") are deliberately
# absent: "X was not Y" and "X was Y" must not look alike.
FUNCTION_WORDS = frozenset(
    """
    a about above across after afterwards again against all almost along already also although
    always am among an and another any anyhow anyone anything anyway anywhere are around as at be
    became because become becomes been before being below beside besides between both but by can
    could did do does doing done down during each either else etc even ever every for from
    further had has have having he her here hers herself him himself his how however i if in
    into is it its itself just let like made make many may me might mine more most much must my
    myself neither nevertheless of off often on once one only onto or other others otherwise our
    ours ourselves out over own per perhaps please quite rather really said same say says see
    seem seemed seems several shall she should since so some somehow someone something sometimes
    still such than that the their theirs them themselves then there thereby therefore these
    they this those though through throughout thus to together too toward towards under until
    up upon us use used using very via was we well were what whatever when whence whenever where
    whereas wherever whether which while who whoever whole whom whose why will with within
    without would yet you your yours yourself yourselves
    answer answers question questions source sources according based mentioned mention mentions
    states stated text passage context provided information
    sure okay ok certainly hello hi thanks thank great glad happy hope helps help here
    """.split()
)

# Words that frame a question rather than say what it is about ("What *year* did ...",
# "What is the *name* of ..."): the passage that answers it rarely repeats them.
QUESTION_FRAME_WORDS = frozenset(
    """
    name named called call kind type sort year years date time happen happened happens
    many much long far old big large percent percentage number amount describe described
    known refer refers referred term take takes took fast quick quickly usually often mean means
    meaning
    """.split()
)

NEGATION_TERM = "not"  # every negation word becomes this one term
NEGATIONS = frozenset({"not", "no", "never", "none", "nor", "nothing", "nobody", "neither"})

NUMBER_WORDS: Mapping[str, str] = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000",
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}  # fmt: skip
# "one" is left out: it is far more often a pronoun ("the one who") than a count.

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th|s)?|[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(st|nd|rd|th)$")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_LINK = re.compile(
    r"(?:https?|ftp|file|mailto|javascript|vbscript|data):[^\s<>\"'()\[\]]+"
    r"|www\.[^\s<>\"'()\[\]]+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|ru|cn|info|biz|xyz|top|example|app|dev|ly|me|site|online|link|click)\b(?:/[^\s<>\"'()\[\]]*)?",
    re.IGNORECASE,
)
# Characters a terminal or a text renderer acts on instead of showing: C0/C1 controls (ESC
# starts the sequences that clear a screen or write the clipboard) and bidirectional overrides.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•]|\s*\d+[.)]\s)")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|e\.g|i\.e|No|Vol|Fig|Inc|Ltd|Co|Corp|Gen|Gov|Sen|Rep|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z])\.$"
)


@dataclass(frozen=True)
class Terms:
    """The weighted terms of a piece of text."""

    weights: Mapping[str, float]
    names: frozenset[str]
    numbers: frozenset[str]

    @property
    def total_weight(self) -> float:
        return float(sum(self.weights.values()))

    def __bool__(self) -> bool:
        return bool(self.weights)


@dataclass(frozen=True)
class SourceEvidence:
    """One numbered source prepared for support scoring."""

    number: int
    terms: frozenset[str]
    windows: tuple[frozenset[str], ...]
    window_texts: tuple[str, ...]


@dataclass(frozen=True)
class SupportScore:
    """How one source backs one sentence.

    `lexical`: weighted share of the sentence's terms found in the source's best window.
    `missing`: names of the sentence that the whole source lacks, and numbers or a negation
    of it that the backing window lacks.
    """

    number: int
    lexical: float
    missing: tuple[str, ...] = field(default_factory=tuple)
    best_window: int = 0


def normalize_number(token: str) -> str | None:
    """Digits without separators ("1,066" -> "1066"), ordinals kept ("10th"); None if no number."""
    lowered = token.lower()
    if lowered in NUMBER_WORDS:
        return NUMBER_WORDS[lowered]
    if not lowered[:1].isdigit():
        return None
    match = _ORDINAL_SUFFIX.match(lowered)
    if match:
        return match.group(1) + match.group(2)
    if lowered.endswith("s") and lowered[:-1].isdigit():  # "1990s"
        return lowered
    cleaned = lowered.replace(",", "")
    if cleaned.endswith(".0"):
        cleaned = cleaned[:-2]
    return cleaned


def word_tokens(text: str) -> list[str]:
    """Words and numbers of `text`, in order, as written."""
    return _TOKEN.findall(_CITATION.sub(" ", text))


def extract_terms(text: str) -> Terms:
    """Weighted terms: stemmed content words, names and numbers. Function words are dropped."""
    weights: dict[str, float] = {}
    names: set[str] = set()
    numbers: set[str] = set()
    tokens = word_tokens(text)
    plain_words: list[tuple[str, bool]] = []
    for token in tokens:
        number = normalize_number(token)
        if number is not None:
            key = f"#{number}"
            numbers.add(key)
            weights[key] = NUMBER_WEIGHT
            continue
        lowered = token.lower().replace("’", "'")
        if lowered.endswith("'s"):
            lowered = lowered[:-2]
        if lowered in FUNCTION_WORDS or len(lowered) < 2 and lowered not in NEGATIONS:
            continue
        plain_words.append((lowered, token[:1].isupper()))
    if plain_words:
        stems = stem_words([word for word, _ in plain_words])
        for stem, (word, capitalised) in zip(stems, plain_words, strict=True):
            if word in NEGATIONS:
                stem = NEGATION_TERM
            if capitalised:
                names.add(stem)
            weight = NAME_WEIGHT if capitalised else WORD_WEIGHT
            weights[stem] = max(weights.get(stem, 0.0), weight)
    return Terms(weights=weights, names=frozenset(names), numbers=frozenset(numbers))


def merge_terms(first: Terms, second: Terms) -> Terms:
    """The terms of both texts (the higher weight where both have a term)."""
    weights = dict(second.weights)
    for term, weight in first.weights.items():
        weights[term] = max(weight, weights.get(term, 0.0))
    return Terms(weights=weights, names=first.names | second.names, numbers=first.numbers | second.numbers)


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer; [n] marks after a full stop stay with the sentence before them."""
    pieces: list[str] = []
    for part in _SENTENCE_BREAK.split(text.strip()):
        part = part.strip()
        if not part:
            continue
        # A citation written after the full stop ("... 1066. [2] Then ...") belongs to the
        # sentence before it.
        leading = re.match(r"^((?:\[\d{1,3}\]\s*)+)(.*)$", part, re.S)
        if leading and pieces:
            pieces[-1] = f"{pieces[-1]} {leading.group(1).strip()}"
            part = leading.group(2).strip()
            if not part:
                continue
        if pieces and ends_with_abbreviation(pieces[-1]):
            pieces[-1] = f"{pieces[-1]} {part}"
            continue
        pieces.append(part)
    return pieces


def ends_with_abbreviation(text: str) -> bool:
    """Whether the final full stop of `text` belongs to an abbreviation ("U.S.", "Dr.")."""
    return bool(_ABBREVIATION.search(text.rstrip()))


def cited_numbers(sentence: str) -> list[int]:
    """The [n] marks written in a sentence, in order, without repeats."""
    seen: list[int] = []
    for mark in _CITATION.findall(sentence):
        number = int(mark)
        if number not in seen:
            seen.append(number)
    return seen


def links_in(text: str) -> list[str]:
    """The links a sentence carries (URLs, www. and bare web addresses, e-mail addresses),
    lower-cased and without trailing punctuation: each must appear in a source that supports it."""
    return [link.rstrip(".,;:!?").lower() for link in _LINK.findall(text)]


def printable(text: str) -> str:
    """`text` without control characters (line breaks and tabs stay): an answer is shown in
    terminals and pages, and must not act on them."""
    return _CONTROL_CHARACTERS.sub("", text)


def strip_citations(sentence: str) -> str:
    """The sentence without its [n] marks (and without the spaces they leave)."""
    stripped = _CITATION.sub("", sentence)
    stripped = re.sub(r"\s+([.,;:!?])", r"\1", stripped)
    return re.sub(r"\s{2,}", " ", stripped).strip()


def source_windows(text: str) -> list[str]:
    """Overlapping windows of two consecutive sentences (one window for a one-sentence text)."""
    sentences = split_sentences(text) or [text]
    if len(sentences) == 1:
        return sentences
    return [f"{first} {second}" for first, second in zip(sentences, sentences[1:], strict=False)]


def prepare_source(number: int, text: str, *, title: str = "") -> SourceEvidence:
    """A source's terms, whole and per window; the title's terms count in every window."""
    title_terms = set(extract_terms(title).weights) if title else set()
    texts = source_windows(text)
    windows = tuple(frozenset(extract_terms(window).weights) | title_terms for window in texts)
    whole = frozenset(extract_terms(text).weights) | title_terms
    return SourceEvidence(number=number, terms=whole, windows=windows, window_texts=tuple(texts))


def coverage(terms: Terms, evidence: frozenset[str] | set[str]) -> float:
    """Weighted share of `terms` present in `evidence` (1.0 for text without terms)."""
    total = terms.total_weight
    if total <= 0:
        return 1.0
    found = sum(weight for term, weight in terms.weights.items() if term in evidence)
    return float(found / total)


def score_support(terms: Terms, source: SourceEvidence) -> SupportScore:
    """How `source` backs a sentence with `terms`.

    The sentence's numbers and its negation must sit in the very window that backs it: a
    number elsewhere in the chunk ("hold it for 10 seconds" next to "20 seconds to reset")
    or a "not" the passage never pairs with the claim is what a wrong reply looks like. Its
    names only need to be somewhere in the source. Windows holding all of the former are
    preferred; among them, the one holding most of the sentence.
    """
    anchored = terms.numbers | ({NEGATION_TERM} & set(terms.weights))
    best_window = 0
    best: tuple[bool, float] = (False, -1.0)
    for position, window in enumerate(source.windows):
        key = (anchored <= window, coverage(terms, window))
        if key > best:
            best, best_window = key, position
    window = source.windows[best_window] if source.windows else frozenset()
    lexical = coverage(terms, window) if source.windows else 0.0
    missing = {t for t in terms.names if t not in source.terms} | {t for t in anchored if t not in window}
    return SupportScore(
        number=source.number,
        lexical=lexical,
        missing=tuple(sorted(missing)),
        best_window=best_window,
    )


def question_terms(question: str) -> Terms:
    """The question's terms without the words that only frame it."""
    terms = extract_terms(question)
    frame = {term for term in terms.weights if term in _frame_stems()}
    if not frame or len(frame) == len(terms.weights):
        return terms
    weights = {term: weight for term, weight in terms.weights.items() if term not in frame}
    return Terms(weights=weights, names=terms.names - frame, numbers=terms.numbers)


_FRAME_STEMS: frozenset[str] | None = None


def _frame_stems() -> frozenset[str]:
    global _FRAME_STEMS
    if _FRAME_STEMS is None:
        _FRAME_STEMS = frozenset(extract_terms(" ".join(sorted(QUESTION_FRAME_WORDS))).weights)
    return _FRAME_STEMS
