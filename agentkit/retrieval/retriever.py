"""Retrieval: from a query to ranked `SearchHit`s, reading a consistent snapshot.

Three modes: `dense` (cosine similarity of embeddings, from the agent's vector backend,
`agentkit.index.base`), `lexical` (BM25 over the same texts, `agentkit.index.lexical`) and
`hybrid`, the default: both lists, `FUSION_CANDIDATES` deep or `k` if larger, fused into one
ranking by `agentkit.retrieval.fusion` and cut to `k`. A hybrid hit's
`score` is the fused score; `dense_score` (cosine) and `lexical_score` (BM25, 0.0 when no
query term occurs) are its component scores, computed exactly for every hybrid hit even when
only one side ranked it.

The index version, the index searches and the chunk rows are all read inside one SQL
transaction, so a search never mixes chunks from before and after a concurrent sync. The
version and the rows are read with SQL compiled once per database dialect and number of hits
and run through the driver (`_DriverQuery`): building SQLAlchemy results cost more than the
reads themselves (below).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, null, select
from sqlalchemy.orm import Session

from agentkit.errors import SearchError
from agentkit.index.pg_schema import backend_for_agent
from agentkit.results import SearchHit
from agentkit.retrieval.fusion import FUSION_CANDIDATES, fuse_rankings
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.engine import Dialect

    from agentkit.index.agent_index import AgentIndex
    from agentkit.models.embedders import Embedder

SEARCH_MODES = ("hybrid", "dense", "lexical")
DEFAULT_SEARCH_MODE = "hybrid"


class Retriever:
    """Searches one agent's chunks through its index (`agentkit.index.agent_index.AgentIndex`),
    which keeps what it loaded while SQL's version stays the same."""

    def __init__(
        self,
        *,
        agent_id: int,
        embedder: Embedder,
        index_files: AgentIndex,
        reopen: Callable[[str], AgentIndex] | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.embedder = embedder
        self.index_files = index_files
        self.reopen = reopen

    def search(
        self, session: Session, query: str, *, k: int, mode: str = DEFAULT_SEARCH_MODE
    ) -> list[SearchHit]:
        """The k best chunks for `query`. `session` must be inside a transaction."""
        if mode not in SEARCH_MODES:
            raise SearchError(f"unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        if k < 1:
            raise SearchError("k must be at least 1")
        if not query.strip():
            return []
        begin_snapshot(session)
        self._follow_index_move(session)
        version = self._sql_version(session)
        index = self.index_files.snapshot(session, agent_id=self.agent_id, index_version=version)
        if mode == "lexical":
            lexical = index.lexical(query, k)
            return hits_for_chunks(session, lexical, lexical_scores=dict(lexical))
        if index.vector_count() == 0:
            return []
        query_vector = self.embedder.embed_query(query)
        if mode == "dense":
            dense = index.dense(query_vector, k)
            return hits_for_chunks(session, dense, dense_scores=dict(dense))
        depth = max(k, FUSION_CANDIDATES)
        dense = index.dense(query_vector, depth)
        lexical = index.lexical(query, depth)
        fused = fuse_rankings(dense, lexical, k=k)
        # Complete the component scores of chunks only one side ranked: exact cosine and BM25.
        lexical_scores = dict(lexical)
        unscored = [c.chunk_id for c in fused if c.chunk_id not in lexical_scores]
        if unscored:
            lexical_scores.update(index.lexical_scores(query, unscored))
        return hits_for_chunks(
            session,
            [(candidate.chunk_id, candidate.score) for candidate in fused],
            dense_scores=dict(dense),
            lexical_scores=lexical_scores,
            query_vector=query_vector,
        )

    def _follow_index_move(self, session: Session) -> None:
        """On PostgreSQL, `agentkit index move` on any machine changes where the agent's index
        lives: a long-running process (a server) follows the database's record at its next
        search instead of serving from the old place until restarted."""
        if self.reopen is None or session.get_bind().dialect.name != "postgresql":
            return
        current = backend_for_agent(session, self.agent_id)
        if current != self.index_files.backend_name:
            self.index_files = self.reopen(current)

    def _sql_version(self, session: Session) -> int:
        rows = _INDEX_VERSION.run(session, [self.agent_id])
        if not rows:
            raise SearchError(f"agent {self.agent_id} no longer exists")
        return int(rows[0][0])


def begin_snapshot(session: Session) -> None:
    """Make every read of this transaction see one committed state of the database.

    The version check, the index and the chunk rows must agree even while a sync commits.
    pysqlite only opens a transaction before a write, so each SELECT would otherwise see the
    latest commit; in WAL mode an explicit BEGIN gives the reads one snapshot. PostgreSQL's
    default READ COMMITTED has the same gap; REPEATABLE READ closes it.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


class _DriverQuery:
    """A SELECT whose only parameters are a list of values, run as the driver's own SQL.

    SQLAlchemy compiles the statement once per dialect and number of values (the rendered
    `IN (...)` differs) and the driver runs the string; its rows come back as the driver gives
    them, so columns of JSON or timestamp type are decoded by the caller (`_json`, `_timestamp`:
    SQLite gives text, psycopg objects). At 100k chunks a dense search spent 1.17 ms reading
    its 10 hits through SQLAlchemy's result machinery and 0.27 ms reading its version; as the
    driver's SQL, 0.56 and 0.08 ms (`benchmarks/retrieval_beir.py` scale table, the floor columns).
    """

    def __init__(self, statement: Select[Any], parameter: str) -> None:
        self.statement = statement
        self.parameter = parameter
        self._compiled: dict[tuple[str, str, int], tuple[str, tuple[str, ...], bool]] = {}

    def run(self, session: Session, values: Sequence[Any]) -> Sequence[Any]:
        connection = session.connection()
        sql, names, positional = self._compile(connection.dialect, len(values))
        parameters: tuple[Any, ...] | dict[str, Any] = (
            tuple(values) if positional else dict(zip(names, values, strict=True))
        )
        return connection.exec_driver_sql(sql, parameters).all()

    def _compile(self, dialect: Dialect, count: int) -> tuple[str, tuple[str, ...], bool]:
        key = (dialect.name, dialect.driver, count)
        found = self._compiled.get(key)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            # Placeholder values 0..count-1 tell which rendered parameter takes which value.
            expanded = compiled.construct_expanded_state({self.parameter: list(range(count))})
            placeholders = expanded.parameters
            names = tuple(sorted(placeholders, key=lambda name: placeholders[name]))
            positional = bool(compiled.positional)
            if positional and tuple(expanded.positiontup or ()) != names:
                raise SearchError(f"cannot run {self.statement} as the {dialect.name} driver's SQL")
            found = self._compiled[key] = (expanded.statement, names, positional)
        return found


def _hit_rows(*, with_vectors: bool) -> Select[Any]:
    """The chunk and document columns of a hit, at the positions `ID` ... `META` below, for the
    chunk ids bound as `ids`: plain columns, and a chunk's stored vector only when a cosine is
    to be computed from it."""
    return (
        select(
            ChunkRow.id,
            ChunkRow.text,
            ChunkRow.page,
            ChunkRow.heading_path,
            ChunkRow.anchor,
            ChunkRow.embedding if with_vectors else null().label("embedding"),
            DocumentRow.id.label("document_id"),
            DocumentRow.title,
            DocumentRow.uri,
            DocumentRow.source_id,
            DocumentRow.fetched_at,
            DocumentRow.meta,
        )
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .where(ChunkRow.id.in_(bindparam("ids", expanding=True)))
    )


# Where `_hit_rows` puts each column in a row.
(ID, TEXT, PAGE, HEADING_PATH, ANCHOR, EMBEDDING, DOCUMENT_ID, TITLE, URI, SOURCE_ID, FETCHED_AT, META) = range(12)
_HIT_ROWS = _DriverQuery(_hit_rows(with_vectors=False), "ids")
_HIT_ROWS_WITH_VECTORS = _DriverQuery(_hit_rows(with_vectors=True), "ids")
# The agent's id as a one-value list, so the version is read the same way as the rows.
_INDEX_VERSION = _DriverQuery(
    select(AgentRow.index_version).where(AgentRow.id.in_(bindparam("agent_id", expanding=True))), "agent_id"
)


def _json(value: Any) -> Any:
    """A JSON column's value: SQLite's driver gives the text, psycopg the decoded value."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _timestamp(value: Any) -> datetime | None:
    """A timestamp column's value: SQLite's driver gives SQLAlchemy's stored text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def hits_for_chunks(
    session: Session,
    scored: Sequence[tuple[int, float]],
    *,
    dense_scores: dict[int, float] | None = None,
    lexical_scores: dict[int, float] | None = None,
    query_vector: np.ndarray | None = None,
) -> list[SearchHit]:
    """SearchHits for (chunk id, score) pairs, in the given order; unknown ids are dropped.

    With `query_vector`, a chunk missing from `dense_scores` gets its cosine similarity
    computed from the vector stored with it.
    """
    import numpy as np

    if not scored:
        return []
    dense_scores = dict(dense_scores or {})
    ids = [chunk_id for chunk_id, _ in scored]
    query = _HIT_ROWS_WITH_VECTORS if query_vector is not None else _HIT_ROWS
    by_id = {row[ID]: row for row in query.run(session, ids)}
    hits: list[SearchHit] = []
    for chunk_id, score in scored:
        row = by_id.get(chunk_id)
        if row is None:
            continue
        stored_vector = row[EMBEDDING]
        if query_vector is not None and chunk_id not in dense_scores and stored_vector:
            stored = np.frombuffer(stored_vector, dtype=np.float32)
            if stored.shape == query_vector.shape:
                dense_scores[chunk_id] = float(stored @ query_vector)
        meta = _json(row[META])
        record_id = meta.get("record_id") if isinstance(meta, dict) else None
        fetched_at = _timestamp(row[FETCHED_AT])
        hits.append(
            SearchHit(
                chunk_id=row[ID],
                score=float(score),
                text=row[TEXT],
                title=row[TITLE],
                uri=row[URI],
                page=row[PAGE],
                heading_path=tuple(_json(row[HEADING_PATH]) or ()),
                anchor=row[ANCHOR],
                document_id=row[DOCUMENT_ID],
                source_id=row[SOURCE_ID],
                fetched_at=fetched_at.isoformat() if fetched_at else None,
                record_id=str(record_id) if record_id is not None else None,
                dense_score=dense_scores.get(chunk_id),
                lexical_score=(lexical_scores or {}).get(chunk_id),
            )
        )
    return hits
