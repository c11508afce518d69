"""Gaps: the questions an agent could not answer, grouped into topics by meaning.

The owner's to-do list of what the knowledge base lacks. Unanswered questions (abstained, or
rated down) are embedded with the agent's own embedder and grouped by agglomerative clustering
on cosine similarity: the two most alike groups merge, again and again, until no two are at
least `threshold` alike. Average linkage: how alike two groups are is the mean similarity of
their questions' pairs, so a large group does not swallow its neighbours. The result depends only on the questions and their order, never on chance.

Words found in a large share of everything the agent was asked (its product's name) are left
out before embedding: every topic shares them. Exact repeats (same words, case and spacing aside) are counted once when clustering and weigh
as many questions as they were asked. Each topic gets a label (its most frequent content
words) and up to three examples: the most asked, closest to the topic's centre first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Average similarity (cosine) at or above which two groups are one topic, chosen with the real
# MiniLM embedder on SQuAD (benchmarks/gap_topics.py: questions about one paragraph stand for one
# gap). At 0.40, 95% of the question pairs put together come from the same article (0.30: 85-90%,
# subjects start to mix) and groups are about two per paragraph (0.50: three); rewordings of one
# question score 0.5-0.9 and unrelated product questions below 0.3. The int8 ONNX MiniLM that new
# agents get groups alike (94-95% at 0.40 on both samples). A slow test in
# tests/test_stats.py checks that questions on three clear topics come out as three groups.
DEFAULT_THRESHOLD = 0.4
MAX_EXAMPLES = 3
LABEL_WORDS = 3
# A content word in at least this share of all the questions (of at least this many) names the
# product, not a topic (in the README's demo log the product's name is in 31% of the questions,
# the most asked topic word in 18%): "Quillstack" in "What is the default port of Quillstack?" made MiniLM
# score it 0.67 alike to "Does Quillstack run on a Raspberry Pi?" (0.19 without the name).
COMMON_SHARE = 0.25
COMMON_MINIMUM = 20
# Clustering holds an n x n similarity matrix: at most this many distinct questions, the latest.
MAX_QUESTIONS = 1500

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# Words that say nothing about a question's topic (question words, auxiliaries, pronouns).
_LABEL_STOPWORDS = frozenset(
    """
    a about after all also am an and any are as at be been being but by can could did do does
    doing done for from get gets got had has have how i if in into is it its i'm me my of on
    or our out over please should so some such than that the their them then there these they
    this those to up us was we were what when where which who whom whose why will with would
    you your yours tell know want need use using way there's it's don't can't doesn't isn't
    many much per via just still anyone someone something possible
    """.split()
)


@dataclass(frozen=True)
class Gap:
    """One topic the agent could not answer: how often it was asked, and examples."""

    label: str
    questions: int
    examples: list[str]
    terms: list[str] = field(default_factory=list)
    log_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "questions": self.questions,
            "examples": list(self.examples),
            "terms": list(self.terms),
            "log_ids": list(self.log_ids),
        }


@dataclass(frozen=True)
class UnansweredQuestion:
    """A logged question the agent did not answer well (`log_id` None when not from the log)."""

    question: str
    log_id: int | None = None


def find_gaps(
    questions: Sequence[UnansweredQuestion | str],
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_questions: int = MAX_QUESTIONS,
    common: frozenset[str] = frozenset(),
) -> list[Gap]:
    """Group `questions` (oldest first) into topics, largest first.

    `embed` is an embedder's `embed` (normalised vectors, one row per text). `common` are words
    that say nothing about a topic for this agent (see `common_words`): they are left out of
    the texts embedded and of the labels. Ties in size go to the topic asked first.
    """

    items = [UnansweredQuestion(q) if isinstance(q, str) else q for q in questions]
    items = [item for item in items if item.question.strip()]
    distinct: dict[str, list[UnansweredQuestion]] = {}
    for item in items:
        distinct.setdefault(_normalized(item.question), []).append(item)
    keys = list(distinct)[-max_questions:]
    if not keys:
        return []
    texts = [without_words(distinct[key][0].question.strip(), common) for key in keys]
    weights = [len(distinct[key]) for key in keys]
    vectors = embed(texts)
    groups = cluster(vectors, weights, threshold=threshold)
    gaps = []
    for members in groups:
        repeats = [distinct[keys[i]] for i in members]
        gaps.append(_describe(repeats, [vectors[i] for i in members], common))
    order = sorted(range(len(gaps)), key=lambda g: (-gaps[g].questions, min(groups[g])))
    return [gaps[g] for g in order]


def cluster(vectors: np.ndarray, weights: Sequence[int], *, threshold: float) -> list[list[int]]:
    """Agglomerative clustering, average linkage on cosine similarity, stopping at `threshold`.

    `vectors` are normalised rows; `weights` how many questions each row stands for. Two groups
    are as alike as the mean similarity of their questions' pairs (weighted), so a large group
    does not swallow its neighbours as a centroid would. Returns groups of row indices, each in
    ascending order, groups ordered by their first row.
    """

    import numpy as np

    count = len(weights)
    if count == 0:
        return []
    sizes = np.asarray(weights, dtype=np.float64)
    members: list[list[int] | None] = [[i] for i in range(count)]
    similarity = _cosine(np.asarray(vectors, dtype=np.float64), np.asarray(vectors, dtype=np.float64))
    np.fill_diagonal(similarity, -np.inf)
    while True:
        best = int(np.argmax(similarity))
        a, b = divmod(best, count)
        if not similarity[a, b] >= threshold:
            break
        a, b = min(a, b), max(a, b)  # keep the earlier row: a group is named by its first question
        # Lance-Williams update for average linkage; dead rows and the diagonal stay -inf.
        row = (sizes[a] * similarity[a] + sizes[b] * similarity[b]) / (sizes[a] + sizes[b])
        sizes[a] += sizes[b]
        members_a, members_b = members[a], members[b]
        assert members_a is not None and members_b is not None
        members[a] = sorted(members_a + members_b)
        members[b] = None
        row[a] = row[b] = -np.inf
        similarity[a, :] = row
        similarity[:, a] = row
        similarity[b, :] = -np.inf
        similarity[:, b] = -np.inf
    return sorted((m for m in members if m is not None), key=lambda m: m[0])


def common_words(
    questions: Sequence[str], *, share: float = COMMON_SHARE, minimum: int = COMMON_MINIMUM
) -> frozenset[str]:
    """Content words found in at least `share` of `questions` (all the agent was asked, not only
    the unanswered), when there are at least `minimum` of them: the product's name and the like,
    which every topic shares and which would otherwise pull unrelated questions together."""

    if len(questions) < minimum:
        return frozenset()
    counts: Counter[str] = Counter()
    for question in questions:
        counts.update({word for word in _WORD.findall(question.lower()) if _is_content_word(word)})
    return frozenset(word for word, count in counts.items() if count >= share * len(questions))


def without_words(text: str, words: frozenset[str]) -> str:
    """`text` with `words` (lowercase) left out; the text as it was if nothing else would remain."""

    if not words:
        return text
    kept = _WORD.sub(lambda match: "" if match.group(0).lower() in words else match.group(0), text)
    kept = " ".join(kept.split())
    return kept if any(_is_content_word(word) for word in _WORD.findall(kept.lower())) else text


def label_terms(
    texts: Sequence[str], *, limit: int = LABEL_WORDS, common: frozenset[str] = frozenset()
) -> list[str]:
    """The content words used by most of `texts` (each text counts a word once), most used
    first; ties go to the word met first. `common` words are never used."""

    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for text in texts:
        words = [
            word for word in _WORD.findall(text.lower()) if _is_content_word(word) and word not in common
        ]
        for word in dict.fromkeys(words):
            counts[word] += 1
            first_seen.setdefault(word, len(first_seen))
    ranked = sorted(counts, key=lambda word: (-counts[word], first_seen[word]))
    return ranked[:limit]


def _describe(
    repeats: list[list[UnansweredQuestion]], vectors: list[np.ndarray], common: frozenset[str]
) -> Gap:
    import numpy as np

    weights = np.array([len(items) for items in repeats], dtype=np.float64)
    matrix = np.vstack(vectors).astype(np.float64)
    centre = (matrix * weights[:, None]).sum(axis=0)
    closeness = matrix @ centre / (np.linalg.norm(centre) or 1.0)
    order = sorted(range(len(repeats)), key=lambda i: (-len(repeats[i]), -closeness[i], i))
    examples = [repeats[i][0].question.strip() for i in order[:MAX_EXAMPLES]]
    texts = [item.question for items in repeats for item in items]
    terms = label_terms(texts, common=common)
    log_ids = sorted(item.log_id for items in repeats for item in items if item.log_id is not None)
    return Gap(
        label=" ".join(terms) if terms else examples[0],
        questions=int(weights.sum()),
        examples=examples,
        terms=terms,
        log_ids=log_ids,
    )


def _cosine(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    import numpy as np

    left_norms = np.linalg.norm(left, axis=1, keepdims=True)
    right_norms = np.linalg.norm(right, axis=1, keepdims=True)
    left_norms[left_norms == 0] = 1.0
    right_norms[right_norms == 0] = 1.0
    result: np.ndarray = (left / left_norms) @ (right / right_norms).T
    return result


def _is_content_word(word: str) -> bool:
    return word not in _LABEL_STOPWORDS and (len(word) > 2 or word.isdigit())


def _normalized(question: str) -> str:
    return " ".join(question.lower().split()).rstrip("?!. ")
