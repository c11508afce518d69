"""Does a new question mean the same as a curated one?

Two tests, both must pass:
- the cosine similarity of the two questions' embeddings (the agent's embedder) is at least
  `MATCH_THRESHOLD`;
- a lexical check on the words that tell similar questions apart, which embeddings blur: the
  numbers must be the same ("QB-200" is not "QB-300", "version 3" is not "version 4"); a name
  (a capitalised word, an acronym, a code identifier) may not be replaced by another
  ("Austria" for "Australia"; a name only added or left out is allowed, and an acronym matches
  its words: "TOC", "table of contents"); a negation ("not", "no", "never", "without", "n't")
  in one question only counts when the two are otherwise alike; neither may use the opposite
  of a word the other uses ("maximum"/"minimum", "added"/"dropped", "before"/"after"); a rank
  ("largest", "first") may not be in one only; and the two may not ask for different kinds of
  thing ("when" against "where", "who", "why" or "how many").

Both the threshold and the rules were chosen on the calibration half of a paraphrase /
near-miss set (`benchmarks/curated_matching.py`).

`CuratedMatcher` holds an agent's curated questions and their vectors, read from SQL and cached
by (active count, sum of versions, latest change): every question costs one small query, so an
answer added or revised by another process is used on the next question, with no restart.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agentkit.store.models import CuratedAnswerRow

if TYPE_CHECKING:
    import numpy as np

    from agentkit.models.embedders import Embedder

__all__ = [
    "MATCH_THRESHOLD",
    "CuratedMatcher",
    "CuratedReply",
    "QuestionTerms",
    "lexical_conflict",
    "matcher_for",
    "question_terms",
]

# The lowest cosine similarity of the two questions' embeddings at which a new question may take
# a curated answer; the lexical check must pass too. Chosen on the calibration half of
# benchmarks/data/curated_matching.jsonl (`python benchmarks/curated_matching.py`: 141
# paraphrases, 475 near misses) as the least miss rate + 4 x false-match rate, with both bundled
# MiniLM embedders. Near misses matched / paraphrases missed at 0.72:
#   PyTorch all-MiniLM-L6-v2 ("default"): calibration 7.7% / 14.3%, report 5.5% / 29.6%
#     (the embedding alone, report half: 16.5% / 26.8%);
#   ONNX int8 ("onnx-int8:default", new agents): calibration 7.7-8.2% / 14.3-17.1%, report
#     5.9% / 28.2-29.6% (int8 activations are quantized per batch, so these move with how the
#     questions were batched, and the optimum with them: 0.72 or 0.73).
# The near misses are hard on purpose (one entity, number or word apart), and a miss only falls
# back to the normal answer path.
MATCH_THRESHOLD = 0.72


@dataclass(frozen=True)
class CuratedReply:
    """A curated answer chosen for a question: what the answer path yields instead of the model."""

    id: int
    question: str
    answer: str
    source: str | None
    version: int
    score: float
    reason: str


# ----- the lexical check -------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_](?:[\w'’.\-]*[^\W_])?|_\w+", re.UNICODE)
_NEGATIONS = frozenset(
    {"not", "no", "never", "without", "none", "nothing", "nobody", "neither", "nor", "cannot", "nowhere"}
)
_NOT_NAMES = frozenset({"e.g", "i.e", "etc", "vs", "a.k.a"})
_NUMBER_WORDS = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100",
    "thousand": "1000", "million": "1000000", "billion": "1000000000",
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "twice": "2x", "double": "2x", "triple": "3x", "quadruple": "4x",
}  # fmt: skip
# Words that are capitalised at the start of a question without being names.
_COMMON = frozenset(
    """a an the and or but if of in on at to for from by with about as into over under after
    before between through during is are was were be been being am do does did done have has had
    can could will would shall should may might must what which who whom whose when where why how
    i me my we our you your he she it its they them their this that these those there here
    please tell explain describe list give show name define find say let help hi hello
    any some all each every other another also just only even so than then too very yes
    ok okay according besides apart aside using instead since while whether""".split()
)
# Superlatives and words of rank: "the largest city" is not "the capital".
_RANKS = frozenset(
    """largest biggest smallest most least best worst highest lowest earliest latest oldest
    newest longest shortest fastest slowest maximum minimum max min top""".split()
)
# Words too common to tell two questions apart (besides `_COMMON`).
_FILLER = frozenset(
    """get got make made use used using way want need like know thing things one ones someone
    something anything possible isn don doesn didn won aren wasn weren can couldn wouldn
    shouldn hasn haven hadn""".split()
)
# A negation sets two questions apart when they are otherwise alike: when the words they share
# are at least this many times the words only one of them has (measured on the benchmark's
# pairs: near misses that differ by a "not" are at 0.8 and above, paraphrases that say with a
# "not" what the other says without one mostly below 0.6).
NEGATION_OVERLAP = 0.75
# Pairs of words of opposite meaning: a question using one is not one using the other.
_OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(left.split()), frozenset(right.split()))
    for left, right in (
        ("max maximum most largest biggest highest longest upper more greater", "min minimum least smallest lowest shortest lower less fewer"),
        ("before earlier prior", "after later"),
        ("first earliest", "last latest final"),
        ("enable enabled enabling activate", "disable disabled disabling deactivate"),
        ("add adds added adding create", "remove removes removed removing delete deleted drop dropped"),
        ("keep keeping preserve retain", "remove removing strip"),
        ("increase raise", "decrease reduce"),
        ("upload uploading", "download downloading"),
        ("import importing", "export exporting"),
        ("allow allowed permit", "block blocked deny forbid forbidden"),
        ("start starting begin", "stop stopping end"),
        ("open", "close"),
        ("install installing", "uninstall uninstalling"),
        ("encrypt encrypted encryption", "decrypt decrypted decryption"),
        ("north northern", "south southern"),
        ("east eastern", "west western"),
        ("win won", "lose lost"),
        ("born birth", "died death"),
        ("input", "output"),
        ("inside internal", "outside external"),
    )
)  # fmt: skip
# What a question asks for, from its question words ("how long" is a duration, not a "how");
# "when", "where" and "why" count only as question words, followed by a verb ("when did").
_AUXILIARY = r"(?:did|does|do|is|was|were|are|will|would|can|could|should|has|have|had|must|may)\b"
_ASKS = (
    ("duration", re.compile(r"\bhow long\b|\bhow many (?:years|months|weeks|days|hours|minutes|seconds)\b")),
    ("count", re.compile(r"\bhow (?:many|much)\b|\bnumber of\b")),
    ("time", re.compile(r"\bwhen " + _AUXILIARY + r"|\bwhat (?:year|date|time|day|month|century|decade)\b")),
    (
        "place",
        re.compile(r"\bwhere " + _AUXILIARY + r"|\bwhat (?:country|city|place|state|region|location)\b"),
    ),
    ("person", re.compile(r"\bwho(?:m|se)?\b")),
    ("reason", re.compile(r"\bwhy " + _AUXILIARY)),
)


@dataclass(frozen=True)
class QuestionTerms:
    """The words of a question that set it apart from questions that look like it."""

    words: frozenset[str]  # every word, lower case, and its parts split at - _ .
    content: frozenset[str]  # the words that carry meaning (no question or function words)
    initials: str  # the first letter of every word in order ("table of contents": "toc")
    numbers: frozenset[str]
    names: frozenset[str]
    negated: bool
    asks: str | None  # count | duration | time | place | person | reason | None


@functools.lru_cache(maxsize=4096)
def question_terms(question: str) -> QuestionTerms:
    """The numbers, names, negation and question kind of `question` (kept for the curated
    questions of the agents asked lately, so a reload after a change does not redo them)."""
    text = question.replace("’", "'")
    tokens: list[str] = []
    words: set[str] = set()
    numbers: set[str] = set()
    names: set[str] = set()
    negated = False
    sentence_start = True
    initials: list[str] = []
    for found in _TOKEN.finditer(text):
        token = found.group()
        tokens.append(token)
        lower = token.lower()
        if lower.endswith("n't") or lower in _NEGATIONS:
            negated = True
        plain = _strip_possessive(lower)
        words.add(plain)
        parts = [part for part in re.split(r"[-_.']", plain) if part]
        words.update(parts)
        initials.extend(part[0] for part in parts)
        if any(character.isdigit() for character in token):
            numbers.add(re.sub(r"\.x$", "", plain.replace("-", "").replace(",", "")))
        elif plain in _NUMBER_WORDS:
            numbers.add(_NUMBER_WORDS[plain])
        elif plain not in _NOT_NAMES and _is_name(token, plain, sentence_start=sentence_start):
            names.add(plain)
        sentence_start = bool(re.match(r"\s*[.!?:;]", text[found.end() : found.end() + 3]))
    lowered = " ".join(token.lower() for token in tokens)
    asks = next((kind for kind, pattern in _ASKS if pattern.search(lowered)), None)
    return QuestionTerms(
        words=frozenset(words),
        content=frozenset(
            word
            for word in words
            if word not in _COMMON
            and word not in _FILLER
            and word not in _NEGATIONS
            and not word.isdigit()
            and len(word) > 1
        ),
        initials="".join(initials),
        numbers=frozenset(numbers),
        names=frozenset(names),
        negated=negated,
        asks=asks,
    )


def lexical_conflict(asked: QuestionTerms, curated: QuestionTerms) -> str | None:
    """Why the asked question cannot mean the curated one, or None when nothing sets them apart."""
    if asked.numbers != curated.numbers:
        return f"numbers differ ({_listed(asked.numbers)} vs {_listed(curated.numbers)})"
    # A name replaced by another ("Austria" for "Australia", "QB-300" for "QB-200"); a name
    # only added or only left out is not enough (the product name, say).
    added = sorted(name for name in asked.names if not _name_in(name, curated))
    dropped = sorted(name for name in curated.names if not _name_in(name, asked))
    if added and dropped:
        return f"names differ ({', '.join(added)} vs {', '.join(dropped)})"
    if asked.negated != curated.negated and _overlap(asked.content, curated.content) >= NEGATION_OVERLAP:
        return "one is negated, the other not"
    for left, right in _OPPOSITES:
        if (asked.words & left and curated.words & right and not curated.words & left) or (
            asked.words & right and curated.words & left and not curated.words & right
        ):
            return f"opposite words ({_listed((asked.words | curated.words) & (left | right))})"
    if bool(asked.words & _RANKS) != bool(curated.words & _RANKS):
        return f"only one asks for a rank ({_listed((asked.words | curated.words) & _RANKS)})"
    if asked.asks and curated.asks and asked.asks != curated.asks:
        return f"asks for a {asked.asks}, the curated question for a {curated.asks}"
    return None


def _overlap(first: frozenset[str], second: frozenset[str]) -> float:
    """Words of `first` with a form in `second`, per word that only one of them has."""
    shared = sum(any(_related(word, other) for other in second) for word in first)
    return shared / max(1, len(first | second) - shared)


def _related(first: str, second: str) -> bool:
    """The same word in another form ("installed", "install"; "library", "libraries")."""
    stem = min(len(first), len(second), 5)
    return first == second or (stem >= 4 and first[:stem] == second[:stem])


def _strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith("'s") else word.rstrip("'")


def _is_name(token: str, plain: str, *, sentence_start: bool) -> bool:
    if len(plain) < 2:
        return False
    if any(character.isupper() for character in token[1:]) or re.search(r"\w[_.]\w", token):
        return True  # an acronym, CamelCase or a code identifier
    if not token[0].isupper():
        return False
    return not sentence_start or plain not in _COMMON


def _name_in(name: str, terms: QuestionTerms) -> bool:
    """A name is in a question when it or all its parts are (a plural counts), or when it is
    an acronym of words there ("TOC": "table of contents", "CLI": "command-line")."""
    parts = [part for part in re.split(r"[-_.']", name) if part] or [name]

    def present(word: str) -> bool:
        return word in terms.words or word.rstrip("s") in terms.words or word + "s" in terms.words

    if present(name) or all(present(part) for part in parts):
        return True
    letters = name.rstrip("s")
    return (
        2 <= len(letters) <= 5
        and letters.isalpha()
        and (letters in terms.initials or (len(letters) >= 3 and letters[:-1] in terms.initials))
    )


def _listed(values: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(values)) or "none"


# ----- matching against an agent's curated answers -----------------------------------------


@dataclass(frozen=True)
class _Curated:
    """The active curated answers of one agent, with their question vectors, as loaded."""

    ids: tuple[int, ...]
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    sources: tuple[str | None, ...]
    versions: tuple[int, ...]
    vectors: np.ndarray | None  # (n, dimension), normalised


_StateKey = tuple[int, int, datetime | None, int | None]


class CuratedMatcher:
    """Finds the curated answer, if any, that a new question means; one per agent and embedder."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        agent_id: int,
        embedder: Callable[[], Embedder],
        threshold: float = MATCH_THRESHOLD,
    ) -> None:
        self._sessions = sessions
        self._agent_id = agent_id
        self._embedder = embedder
        self.threshold = threshold
        self._lock = threading.Lock()
        self._key: _StateKey | None = None
        self._loaded: _Curated | None = None

    def match(self, question: str) -> CuratedReply | None:
        """The curated answer `question` means, or None (also when the agent has none)."""
        curated = self._current()
        if curated is None or not curated.ids or curated.vectors is None:
            return None
        vector = self._embedder().embed_query(question)
        scores = curated.vectors @ vector
        asked = question_terms(question)
        for index in sorted(range(len(curated.ids)), key=lambda i: -float(scores[i])):
            score = float(scores[index])
            if score < self.threshold:
                return None
            conflict = lexical_conflict(asked, question_terms(curated.questions[index]))
            if conflict is None:
                return CuratedReply(
                    id=curated.ids[index],
                    question=curated.questions[index],
                    answer=curated.answers[index],
                    source=curated.sources[index],
                    version=curated.versions[index],
                    score=score,
                    reason=f"similarity {score:.2f} >= {self.threshold:.2f}; same numbers, names and negation",
                )
        return None

    def _current(self) -> _Curated | None:
        with self._sessions() as session:
            key = _state_key(session, self._agent_id)
            if key[0] == 0:
                return None
            with self._lock:
                if key == self._key and self._loaded is not None:
                    return self._loaded
                rows = session.scalars(
                    select(CuratedAnswerRow)
                    .where(CuratedAnswerRow.agent_id == self._agent_id, CuratedAnswerRow.removed_at.is_(None))
                    .order_by(CuratedAnswerRow.id)
                ).all()
                self._loaded = self._load(rows)
                self._key = key
                return self._loaded

    def _load(self, rows: Sequence[CuratedAnswerRow]) -> _Curated:
        import numpy as np

        embedder = self._embedder()
        vectors = [
            np.frombuffer(row.embedding, dtype=np.float32)
            if row.embedding is not None
            and row.embedder_id == embedder.embedder_id
            and len(row.embedding) == 4 * embedder.dimension
            else None
            for row in rows
        ]
        stale = [i for i, vector in enumerate(vectors) if vector is None]
        if stale:  # stored with another embedder (the agent was reindexed): embed them again
            fresh = embedder.embed([rows[i].question for i in stale])
            for i, vector in zip(stale, fresh, strict=True):
                vectors[i] = vector
        return _Curated(
            ids=tuple(row.id for row in rows),
            questions=tuple(row.question for row in rows),
            answers=tuple(row.answer for row in rows),
            sources=tuple(row.source for row in rows),
            versions=tuple(row.version for row in rows),
            vectors=np.vstack([v for v in vectors if v is not None]) if rows else None,
        )


def _state_key(session: Session, agent_id: int) -> _StateKey:
    """What changes whenever the agent's active curated answers change, from any process."""
    count, versions, latest, last_id = session.execute(
        select(
            func.count(CuratedAnswerRow.id),
            func.coalesce(func.sum(CuratedAnswerRow.version), 0),
            func.max(CuratedAnswerRow.updated_at),
            func.max(CuratedAnswerRow.id),
        ).where(CuratedAnswerRow.agent_id == agent_id, CuratedAnswerRow.removed_at.is_(None))
    ).one()
    return int(count or 0), int(versions or 0), latest, last_id


_MATCHERS: OrderedDict[tuple[sessionmaker[Session], int, str], CuratedMatcher] = OrderedDict()
_MATCHERS_LOCK = threading.Lock()
_MATCHERS_KEPT = 64


def matcher_for(
    sessions: sessionmaker[Session], *, agent_id: int, embedder: Callable[[], Embedder], embedder_id: str
) -> CuratedMatcher:
    """The matcher for one agent of one store (kept, so its vectors are loaded once per change)."""
    key = (sessions, agent_id, embedder_id)
    with _MATCHERS_LOCK:
        found = _MATCHERS.get(key)
        if found is None:
            found = CuratedMatcher(sessions, agent_id=agent_id, embedder=embedder)
            _MATCHERS[key] = found
            while len(_MATCHERS) > _MATCHERS_KEPT:
                _MATCHERS.popitem(last=False)
        _MATCHERS.move_to_end(key)
        return found
