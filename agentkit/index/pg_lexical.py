"""BM25 inside PostgreSQL: the postings of an agent's chunks, scored by one SQL query.

The same terms as the file index (`agentkit.index.lexical.tokenize`: lowercase words,
stopwords dropped, Snowball English stems), the same Okapi BM25 with the non-negative idf
`log(1 + (N - df + 0.5) / (df + 0.5))`, the same k1 and b, and the same order (score, then the
smaller chunk id), so hybrid ranking is the same on every backend. PostgreSQL's full-text
ranking (`ts_rank`) is not BM25 and is not used.

Each posting row carries its chunk's length, so a search reads the postings of its terms once
(document frequencies by a window over the same rows) and nothing else; N and the average length
come from `agentkit_lexical_lengths` (one row per chunk, also those without a single term).
Scoring given chunks (the hybrid hits only one side ranked) counts frequencies over all of a
term's postings first, then scores the given chunks' rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from agentkit.index.lexical import DEFAULT_B, DEFAULT_K1, tokenize
from agentkit.index.pg_schema import LENGTHS_TABLE, POSTINGS_TABLE

# Both queries start from the query's terms (weighted by repeats) and the agent's chunk count and
# total length, which BM25's idf and length normalisation need.
_QUERY_AND_COLLECTION = f"""
WITH query_terms AS (
    SELECT term, sum(weight)::float8 AS weight
    FROM unnest(CAST(:terms AS text[]), CAST(:weights AS int[])) AS q(term, weight)
    GROUP BY term
),
collection AS (
    SELECT count(*)::float8 AS chunks, coalesce(sum(length), 0)::float8 AS total
    FROM {LENGTHS_TABLE} WHERE agent_id = :agent
),
"""

_SCORE_CHUNKS = _QUERY_AND_COLLECTION + f"""
frequencies AS (
    SELECT p.term, count(*)::float8 AS df
    FROM {POSTINGS_TABLE} p JOIN query_terms q ON q.term = p.term
    WHERE p.agent_id = :agent
    GROUP BY p.term
),
scored AS (
    SELECT p.chunk_id, sum(
        ln(1.0 + (c.chunks - f.df + 0.5) / (f.df + 0.5)) * (:k1 + 1.0) * q.weight * p.count
        / (p.count + :k1 * (1.0 - :b + :b * p.length / CASE WHEN c.chunks > 0 AND c.total > 0
                                                             THEN c.total / c.chunks ELSE 1.0 END))
    ) AS score
    FROM {POSTINGS_TABLE} p
    JOIN query_terms q ON q.term = p.term
    JOIN frequencies f ON f.term = p.term
    CROSS JOIN collection c
    WHERE p.agent_id = :agent {{only}}
    GROUP BY p.chunk_id
)
SELECT chunk_id, score FROM scored ORDER BY score DESC, chunk_id {{limit}}
"""


_SEARCH = _QUERY_AND_COLLECTION + f"""
postings AS (
    SELECT p.chunk_id, p.count, p.length, q.weight, count(*) OVER (PARTITION BY p.term)::float8 AS df
    FROM {POSTINGS_TABLE} p JOIN query_terms q ON q.term = p.term
    WHERE p.agent_id = :agent
),
scored AS (
    SELECT p.chunk_id, sum(
        ln(1.0 + (c.chunks - p.df + 0.5) / (p.df + 0.5)) * (:k1 + 1.0) * p.weight * p.count
        / (p.count + :k1 * (1.0 - :b + :b * p.length / CASE WHEN c.chunks > 0 AND c.total > 0
                                                             THEN c.total / c.chunks ELSE 1.0 END))
    ) AS score
    FROM postings p CROSS JOIN collection c
    GROUP BY p.chunk_id
)
SELECT chunk_id, score FROM scored ORDER BY score DESC, chunk_id {{limit}}
"""


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


def _query(query: str) -> tuple[list[str], list[int]]:
    counts = Counter(tokenize(query))
    return list(counts), list(counts.values())


def search_postings(session: Session, agent_id: int, query: str, k: int) -> list[tuple[int, float]]:
    """The `k` best chunks for `query` by BM25, best first; only chunks sharing a term."""
    terms, weights = _query(query)
    if not terms or k <= 0:
        return []
    rows = session.execute(
        text(_SEARCH.format(limit="LIMIT :k")),
        {"terms": terms, "weights": weights, "agent": agent_id, "k1": DEFAULT_K1, "b": DEFAULT_B, "k": k},
    ).all()
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]


def score_chunks(session: Session, agent_id: int, query: str, chunk_ids: Iterable[int]) -> dict[int, float]:
    """The BM25 score of each given chunk (0.0: no shared term; chunks not indexed left out)."""
    ids = [int(chunk_id) for chunk_id in chunk_ids]
    if not ids:
        return {}
    indexed = {
        int(row[0])
        for row in session.execute(
            text(f"SELECT chunk_id FROM {LENGTHS_TABLE} WHERE chunk_id = ANY(:ids) AND agent_id = :agent"),
            {"ids": ids, "agent": agent_id},
        )
    }
    scores = dict.fromkeys(indexed, 0.0)
    terms, weights = _query(query)
    if terms and indexed:
        rows = session.execute(
            text(_SCORE_CHUNKS.format(only="AND p.chunk_id = ANY(:ids)", limit="")),
            {
                "terms": terms,
                "weights": weights,
                "agent": agent_id,
                "k1": DEFAULT_K1,
                "b": DEFAULT_B,
                "ids": sorted(indexed),
            },
        ).all()
        scores.update((int(chunk_id), float(score)) for chunk_id, score in rows)
    return scores
