"""BM25 inside PostgreSQL: the postings of an agent's chunks, scored in SQL.

The same terms as the file index (`agentkit.index.lexical.tokenize`: lowercase words,
stopwords dropped, Snowball English stems), the same Okapi BM25 with the non-negative idf
`log(1 + (N - df + 0.5) / (df + 0.5))`, the same k1 and b, and the same order (score, then the
smaller chunk id), so hybrid ranking is the same on every backend. PostgreSQL's full-text
ranking (`ts_rank`) is not BM25 and is not used.

Each posting row carries its chunk's length, and the postings' primary key (agent, term, chunk)
carries count and length, so every read here is an index-only range or probe. N, the total
length and each asked term's document frequency are counted once per index version
(`LexicalStatistics`, kept by the agent's index while SQL's version stays the same).

A search is exact top-k by MaxScore: a term adds at most `idf * (k1 + 1) * query count` to any
chunk. Terms are taken rarest first; the chunks of each taken term are scored in full (all query
terms, probed by primary key), and the search stops once the k-th best full score exceeds what
the terms not yet taken could add together: no chunk outside those read can reach the top k.
A query of rare words so reads a few hundred postings, not the hundreds of thousands of its
most common word; a query of only common words reads them all, as before.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from agentkit.index.lexical import DEFAULT_B, DEFAULT_K1, tokenize
from agentkit.index.pg_schema import LENGTHS_TABLE, POSTINGS_TABLE

# Cached document frequencies per statistics object; past this many terms the cache starts over.
MAX_CACHED_TERMS = 100_000
# A bound counts as below the k-th score only by this relative margin (float sums differ in order).
BOUND_MARGIN = 1e-9

# Each chunk's terms are summed in query order, with the file index's operations in its order,
# so chunks that tie there tie here too (a float sum depends on its order).
_SCORE = f"""
SELECT p.chunk_id, sum(
    q.idf * (:k1 + 1.0) * q.weight * p.count / (p.count + :k1 * (1.0 - :b + :b * (p.length / :average)))
    ORDER BY q.position
) AS score
FROM {POSTINGS_TABLE} p
JOIN unnest(
    CAST(:terms AS text[]), CAST(:idfs AS float8[]), CAST(:weights AS int[]), CAST(:positions AS int[])
) AS q(term, idf, weight, position) ON q.term = p.term
WHERE p.agent_id = :agent AND p.term = ANY(CAST(:terms AS text[])) AND p.chunk_id = ANY(CAST(:ids AS int[]))
GROUP BY p.chunk_id
"""


@dataclass
class LexicalStatistics:
    """An agent's BM25 collection statistics at one index version: chunk count, total length,
    and the document frequency of each term asked so far."""

    chunks: int
    total: int
    frequencies: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, agent_id: int) -> LexicalStatistics:
        chunks, total = session.execute(
            text(f"SELECT count(*), coalesce(sum(length), 0) FROM {LENGTHS_TABLE} WHERE agent_id = :agent"),
            {"agent": agent_id},
        ).one()
        return cls(int(chunks), int(total))

    @property
    def average_length(self) -> float:
        return self.total / self.chunks if self.chunks and self.total else 1.0

    def document_frequencies(self, session: Session, agent_id: int, terms: Sequence[str]) -> dict[str, int]:
        """Each term's document frequency, counted in SQL the first time it is asked. Safe for
        the threads of a server sharing these statistics (the cache is replaced, never cleared
        under a reader)."""
        found = {term: count for term in terms if (count := self.frequencies.get(term)) is not None}
        missing = [term for term in terms if term not in found]
        if missing:
            counted = dict.fromkeys(missing, 0)
            counted.update(
                (str(term), int(count))
                for term, count in session.execute(
                    text(
                        f"SELECT q.term, (SELECT count(*) FROM {POSTINGS_TABLE} p "
                        "WHERE p.agent_id = :agent AND p.term = q.term) "
                        "FROM unnest(CAST(:terms AS text[])) AS q(term)"
                    ),
                    {"agent": agent_id, "terms": missing},
                )
            )
            if len(self.frequencies) + len(counted) > MAX_CACHED_TERMS:
                self.frequencies = {}
            self.frequencies.update(counted)
            found.update(counted)
        return found

    def idf(self, frequency: int) -> float:
        return math.log1p((self.chunks - frequency + 0.5) / (frequency + 0.5))


@dataclass(frozen=True)
class QueryTerm:
    term: str
    weight: int
    frequency: int
    idf: float
    position: int  # in the query

    @property
    def bound(self) -> float:
        """The most this term can add to a chunk's score: BM25's tf part stays below k1 + 1."""
        return self.idf * (DEFAULT_K1 + 1.0) * self.weight


def write_postings(session: Session, agent_id: int, chunk_ids: Sequence[int], texts: Sequence[str]) -> None:
    """Index chunks (new ids) in the session's transaction, with two COPYs."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        counted = [
            (int(chunk_id), Counter(tokenize(chunk_text)))
            for chunk_id, chunk_text in zip(chunk_ids, texts, strict=True)
        ]
        with cursor.copy(f"COPY {LENGTHS_TABLE} (chunk_id, agent_id, length) FROM STDIN") as copy:
            for chunk_id, counts in counted:
                copy.write_row((chunk_id, agent_id, sum(counts.values())))
        with cursor.copy(
            f"COPY {POSTINGS_TABLE} (agent_id, term, chunk_id, count, length) FROM STDIN"
        ) as copy:
            for chunk_id, counts in counted:
                length = sum(counts.values())
                for term, count in counts.items():
                    copy.write_row((agent_id, term, chunk_id, count, length))


def delete_postings(session: Session, agent_id: int) -> None:
    """Drop every posting and length of the agent."""
    session.execute(text(f"DELETE FROM {POSTINGS_TABLE} WHERE agent_id = :agent"), {"agent": agent_id})
    session.execute(text(f"DELETE FROM {LENGTHS_TABLE} WHERE agent_id = :agent"), {"agent": agent_id})


def _query_terms(session: Session, agent_id: int, query: str, statistics: LexicalStatistics) -> list[QueryTerm]:
    """The query's indexed terms, rarest first."""
    counts = Counter(tokenize(query))
    frequencies = statistics.document_frequencies(session, agent_id, list(counts))
    terms = [
        QueryTerm(term, weight, frequencies[term], statistics.idf(frequencies[term]), position)
        for position, (term, weight) in enumerate(counts.items())
        if frequencies[term] > 0
    ]
    return sorted(terms, key=lambda term: (term.frequency, term.term))


def _full_scores(
    session: Session, agent_id: int, terms: Sequence[QueryTerm], statistics: LexicalStatistics, ids: Sequence[int]
) -> dict[int, float]:
    """The BM25 score over all `terms` of each given chunk that holds one of them."""
    if not ids or not terms:
        return {}
    rows = session.execute(
        text(_SCORE),
        {
            "terms": [term.term for term in terms],
            "idfs": [term.idf for term in terms],
            "weights": [term.weight for term in terms],
            "positions": [term.position for term in terms],
            "agent": agent_id,
            "ids": list(ids),
            "k1": DEFAULT_K1,
            "b": DEFAULT_B,
            "average": statistics.average_length,
        },
    ).all()
    return {int(chunk_id): float(score) for chunk_id, score in rows}


def search_postings(
    session: Session, agent_id: int, query: str, k: int, statistics: LexicalStatistics
) -> list[tuple[int, float]]:
    """The `k` best chunks for `query` by BM25, best first; only chunks sharing a term."""
    if k <= 0:
        return []
    terms = _query_terms(session, agent_id, query, statistics)

    def postings_of(term: QueryTerm) -> list[int]:
        return [
            int(chunk_id)
            for chunk_id in session.scalars(
                text(f"SELECT chunk_id FROM {POSTINGS_TABLE} WHERE agent_id = :agent AND term = :term"),
                {"agent": agent_id, "term": term.term},
            )
        ]

    return top_k_by_max_score(
        terms, k, postings_of, lambda ids: _full_scores(session, agent_id, terms, statistics, ids)
    )


def top_k_by_max_score(
    terms: Sequence[QueryTerm],
    k: int,
    postings_of: Callable[[QueryTerm], Sequence[int]],
    full_scores: Callable[[list[int]], dict[int, float]],
) -> list[tuple[int, float]]:
    """MaxScore over `terms` taken in the given order (rarest first): the exact top `k` (score,
    then smaller id) of the chunks holding any term, reading the postings of as few terms as
    the bounds allow. `full_scores` scores chunks over all terms."""
    scored: dict[int, float] = {}
    for taken, term in enumerate(terms):
        scored.update(full_scores([chunk_id for chunk_id in postings_of(term) if chunk_id not in scored]))
        rest = sum(other.bound for other in terms[taken + 1 :])
        if len(scored) >= k and rest < heapq.nlargest(k, scored.values())[-1] * (1.0 - BOUND_MARGIN):
            break  # a chunk holding none of the terms taken cannot reach the k-th score
    best = heapq.nsmallest(k, scored.items(), key=lambda item: (-item[1], item[0]))
    return [(chunk_id, score) for chunk_id, score in best]


def score_chunks(
    session: Session, agent_id: int, query: str, chunk_ids: Iterable[int], statistics: LexicalStatistics
) -> dict[int, float]:
    """The BM25 score of each given chunk (0.0: no shared term; chunks not indexed left out)."""
    ids = [int(chunk_id) for chunk_id in chunk_ids]
    if not ids:
        return {}
    indexed = sorted(
        int(row[0])
        for row in session.execute(
            text(f"SELECT chunk_id FROM {LENGTHS_TABLE} WHERE chunk_id = ANY(:ids) AND agent_id = :agent"),
            {"ids": ids, "agent": agent_id},
        )
    )
    scores = dict.fromkeys(indexed, 0.0)
    scores.update(
        _full_scores(session, agent_id, _query_terms(session, agent_id, query, statistics), statistics, indexed)
    )
    return scores
