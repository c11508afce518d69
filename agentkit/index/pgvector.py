"""The `pgvector` backend: an agent's vectors and BM25 postings in its PostgreSQL database.

Vectors live in `agentkit_vectors_<agent id>` (`vector(N)` column, HNSW index over inner
product; vectors are normalised, so that is cosine) and postings in the shared lexical tables
(`agentkit.index.pg_schema`, `agentkit.index.pg_lexical`). They are written by the ORM flush
that inserts the chunk rows (`_index_new_chunks`, an `after_flush` hook: whichever code path
stores chunks, in its transaction) and leave with them (foreign keys with ON DELETE CASCADE), so SQL and the index never disagree: there is no manifest and nothing to
repair, and every process, on any machine, searches the committed state at its next query.

An agent whose index is not built yet (pgvector was just chosen, or a move was interrupted)
is searched exactly from the vectors SQL stores, in memory, until a writer builds it
(`bring_up_to_date`, before every write, or `agentkit index move`).

Search: below `EXACT_SEARCH_BELOW` vectors the table is scanned exactly (it gets its HNSW index
when it reaches that size, `ensure_hnsw`); above, HNSW answers with
`hnsw.ef_search` set per query to `ef_search_for(k)`, which keeps recall@100 within 0.01 of
exact search (measured on SciFact by `benchmarks/retrieval_beir.py --backend pgvector`). Scores
are the exact inner products of the stored vectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from agentkit.errors import IndexNeedsRepairError
from agentkit.index.agent_index import AgentIndex, IndexSnapshot, IndexUpdate, MemorySnapshot
from agentkit.index.base import IndexManifest
from agentkit.index.files import check_stored_dimension, read_agent_chunk_texts, read_agent_vectors
from agentkit.index.lexical import LexicalIndex
from agentkit.index.numpy import NumpyBackend
from agentkit.index.pg_lexical import (
    LexicalStatistics,
    delete_postings,
    score_chunks,
    search_postings,
    write_postings,
)
from agentkit.index.pg_schema import (
    PGVECTOR,
    has_pgvector_schema,
    record_backend,
    recorded_backend,
    vector_table,
)
from agentkit.ingest.chunking import CHUNKER_VERSION, text_for_embedding
from agentkit.store.models import ChunkRow, DocumentRow, SourceRow

if TYPE_CHECKING:
    import numpy as np

    from agentkit.index.base import VectorBackend

EXACT_SEARCH_BELOW = 2000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64


def ef_search_for(k: int) -> int:
    """The HNSW candidate list length for a query asking for `k` results."""
    return min(1000, max(200, 4 * k))


class PgVectorIndex(AgentIndex):
    """One agent's index in PostgreSQL (see the module docstring)."""

    def __init__(self, folder: Path, *, agent_name: str, embedder_id: str, dimension: int) -> None:
        self.folder = folder  # where index files would be; this backend keeps nothing there
        self.agent_name = agent_name
        self.expected = IndexManifest(
            embedder_id=embedder_id,
            dimension=dimension,
            chunker_version=CHUNKER_VERSION,
            count=0,
            index_version=0,
            backend=PGVECTOR,
        )
        self._fallback: tuple[int, MemorySnapshot] | None = None
        self._counted: tuple[int, int, _Counted] | None = None  # (agent id, index version, counts)

    @property
    def backend_name(self) -> str:
        return PGVECTOR

    # ----- state ---------------------------------------------------------------------------

    def is_built(self, session: Session, agent_id: int) -> bool:
        """True when the agent's vector table and postings hold its chunks; an index of another
        embedder is an error naming the repair."""
        recorded = recorded_backend(session, agent_id)
        if recorded is None or recorded[0] != PGVECTOR:
            return False
        _, embedder_id, dimension, chunker = recorded
        if (embedder_id, dimension, chunker) != (
            self.expected.embedder_id,
            self.expected.dimension,
            self.expected.chunker_version,
        ):
            raise IndexNeedsRepairError(
                f"the pgvector index of agent {self.agent_name!r} holds vectors of embedder "
                f"{embedder_id!r} (dimension {dimension}, chunker {chunker}) but the agent uses "
                f"{self.expected.embedder_id!r} (dimension {self.expected.dimension}, chunker "
                f"{self.expected.chunker_version}). Run `agentkit reindex {self.agent_name}`"
            )
        return True

    def manifest(self) -> IndexManifest | None:
        return None  # the tables follow SQL in its own transactions; nothing to compare

    # ----- reads ---------------------------------------------------------------------------

    def snapshot(self, session: Session, *, agent_id: int, index_version: int) -> IndexSnapshot:
        if self.is_built(session, agent_id):
            counted = self._counted
            if counted is None or counted[:2] != (agent_id, index_version):
                counted = self._counted = (agent_id, index_version, _Counted())
            return PgSnapshot(session, agent_id=agent_id, dimension=self.expected.dimension, counted=counted[2])
        if self._fallback is None or self._fallback[0] != index_version:
            self._fallback = (index_version, _memory_snapshot(session, agent_id, self.expected.dimension))
        return self._fallback[1]

    # ----- writes --------------------------------------------------------------------------

    def apply_update(
        self, session: Session, *, agent_id: int, old_version: int, new_version: int, change: IndexUpdate
    ) -> None:
        """Nothing: the commit that changed the chunks changed the index."""

    def bring_up_to_date(self, sessions: sessionmaker[Session], *, agent_id: int) -> bool:
        with sessions() as session, session.begin():
            check_stored_dimension(
                session, agent_id=agent_id, expected=self.expected, agent_name=self.agent_name
            )
            if self.is_built(session, agent_id):  # raises for vectors of another embedder
                return False
            self.build(session, agent_id)
            return True

    def rebuild(self, session: Session, *, agent_id: int, index_version: int) -> None:
        self.build(session, agent_id)

    def build(self, session: Session, agent_id: int) -> None:
        """Write the agent's whole index from the vectors and texts SQL stores, and record it
        as built; all in the session's transaction, so an interruption changes nothing."""
        session.execute(text("SELECT 1 FROM agents WHERE id = :agent FOR UPDATE"), {"agent": agent_id})
        table = vector_table(agent_id)
        session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(
            text(
                f"CREATE TABLE {table} (chunk_id integer PRIMARY KEY REFERENCES chunks(id) "
                f"ON DELETE CASCADE, embedding vector({self.expected.dimension}) NOT NULL)"
            )
        )
        ids, vectors = read_agent_vectors(session, agent_id, self.expected.dimension)
        write_vectors(session, agent_id, ids.tolist(), vectors)
        ensure_hnsw(session, agent_id)
        delete_postings(session, agent_id)
        chunk_ids, texts = read_agent_chunk_texts(session, agent_id)
        write_postings(session, agent_id, chunk_ids, texts)
        record_backend(
            session,
            agent_id,
            backend=PGVECTOR,
            embedder_id=self.expected.embedder_id,
            dimension=self.expected.dimension,
            chunker_version=self.expected.chunker_version,
        )
        session.execute(text(f"ANALYZE {table}"))


def ensure_hnsw(session: Session, agent_id: int) -> None:
    """Give the agent's vector table its HNSW index once it holds `EXACT_SEARCH_BELOW` vectors
    (smaller ones are scanned exactly). Built in bulk from the rows there, which is faster than
    growing it row by row; it takes a SHARE lock, so searches go on meanwhile."""
    table = vector_table(agent_id)
    if session.execute(text(f"SELECT to_regclass('{table}_hnsw') IS NOT NULL")).scalar():
        return
    if (session.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0) < EXACT_SEARCH_BELOW:
        return
    session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    session.execute(
        text(
            f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_ip_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        )
    )


def write_vectors(session: Session, agent_id: int, ids: list[int], vectors: np.ndarray) -> None:
    """Insert vectors under new chunk ids with one binary COPY, in the session's transaction."""
    import numpy as np

    if not ids:
        return
    matrix = np.asarray(vectors, dtype=np.float32)
    dimension = matrix.shape[1]
    row_type = np.dtype(
        [
            ("fields", ">i2"),
            ("id_size", ">i4"),
            ("id", ">i4"),
            ("vector_size", ">i4"),
            ("dimension", ">i2"),
            ("unused", ">i2"),
            ("values", ">f4", (dimension,)),
        ]
    )
    rows = np.zeros(len(ids), dtype=row_type)
    rows["fields"] = 2
    rows["id_size"] = 4
    rows["id"] = np.asarray(ids, dtype=np.int64)
    rows["vector_size"] = 4 + 4 * dimension
    rows["dimension"] = dimension
    rows["values"] = matrix
    payload = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") * 2 + rows.tobytes() + b"\xff\xff"
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        with cursor.copy(
            f"COPY {vector_table(agent_id)} (chunk_id, embedding) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(payload)


@dataclass
class _Counted:
    """What an agent's tables hold at one index version, counted when first needed: the
    vectors, and BM25's collection statistics. Every write moves SQL's index version, so
    these stay right while it does (and are counted again, once, when it moves)."""

    vectors: int | None = None
    lexical: LexicalStatistics | None = None


class PgSnapshot(IndexSnapshot):
    """Searches in the caller's transaction (REPEATABLE READ: one committed state)."""

    def __init__(self, session: Session, *, agent_id: int, dimension: int, counted: _Counted) -> None:
        self.session = session
        self.agent_id = agent_id
        self.dimension = dimension
        self.counted = counted

    def vector_count(self) -> int:
        if self.counted.vectors is None:
            self.counted.vectors = int(
                self.session.execute(text(f"SELECT count(*) FROM {vector_table(self.agent_id)}")).scalar()
                or 0
            )
        return self.counted.vectors

    def _lexical_statistics(self) -> LexicalStatistics:
        if self.counted.lexical is None:
            self.counted.lexical = LexicalStatistics.read(self.session, self.agent_id)
        return self.counted.lexical

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        literal = "[" + ",".join(repr(float(value)) for value in query_vector.tolist()) + "]"
        # HNSW returns at most ef_search rows (at most 1000): a deeper k is answered exactly.
        exact = self.vector_count() < EXACT_SEARCH_BELOW or ef_search_for(k) < k
        self.session.execute(
            text("SELECT set_config('enable_indexscan', :on, true), set_config('hnsw.ef_search', :ef, true)"),
            {"on": "off" if exact else "on", "ef": str(ef_search_for(k))},
        )
        rows = self.session.execute(
            text(
                f"SELECT chunk_id, score FROM (SELECT chunk_id, -(embedding <#> CAST(:q AS vector({self.dimension}))) "
                f"AS score FROM {vector_table(self.agent_id)} ORDER BY embedding <#> CAST(:q AS vector({self.dimension})) "
                "LIMIT :k) AS nearest ORDER BY score DESC, chunk_id"
            ),
            {"q": literal, "k": k},
        ).all()
        self.session.execute(text("SELECT set_config('enable_indexscan', 'on', true)"))
        return [(int(chunk_id), float(score)) for chunk_id, score in rows]

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        return search_postings(self.session, self.agent_id, query, k, self._lexical_statistics())

    def lexical_scores(self, query: str, chunk_ids: Iterable[int]) -> dict[int, float]:
        return score_chunks(self.session, self.agent_id, query, chunk_ids, self._lexical_statistics())


def _memory_snapshot(session: Session, agent_id: int, dimension: int) -> MemorySnapshot:
    ids, matrix = read_agent_vectors(session, agent_id, dimension)
    vectors: VectorBackend = NumpyBackend.from_vectors(dimension, ids, matrix)
    chunk_ids, texts = read_agent_chunk_texts(session, agent_id)
    lexical = LexicalIndex.build(chunk_ids, texts)
    return MemorySnapshot(lambda: vectors, lambda: lexical)


@event.listens_for(Session, "after_flush")
def _index_new_chunks(session: Session, _context: Any) -> None:
    """Write the vectors and postings of chunk rows this flush inserted, in its transaction.

    Every path that stores chunks (sync, records pushed, resumed batches) goes through an ORM
    flush, so none can store a chunk of a pgvector agent without its vector. Agents whose
    index is not built are skipped: building reads everything from SQL.
    """
    import numpy as np

    chunks = [row for row in session.new if isinstance(row, ChunkRow)]
    if not chunks or session.get_bind().dialect.name != "postgresql" or not has_pgvector_schema(session):
        return
    document_ids = sorted({chunk.document_id for chunk in chunks})
    documents = {
        row[0]: (row[1], row[2])
        for row in session.execute(
            select(DocumentRow.id, DocumentRow.title, SourceRow.agent_id)
            .join(SourceRow, DocumentRow.source_id == SourceRow.id)
            .where(DocumentRow.id.in_(document_ids))
        )
    }
    by_agent: dict[int, list[ChunkRow]] = {}
    for chunk in chunks:
        by_agent.setdefault(documents[chunk.document_id][1], []).append(chunk)
    for agent_id, rows in by_agent.items():
        recorded = recorded_backend(session, agent_id)
        if recorded is None or recorded[0] != PGVECTOR:
            continue
        vectors = np.frombuffer(b"".join(row.embedding for row in rows), dtype=np.float32).reshape(
            len(rows), -1
        )
        if vectors.shape[1] != recorded[2]:
            raise IndexNeedsRepairError(
                f"chunks of dimension {vectors.shape[1]} cannot join a pgvector index of dimension "
                f"{recorded[2]}; run `agentkit reindex` on the agent"
            )
        ids = [row.id for row in rows]
        write_vectors(session, agent_id, ids, vectors)
        ensure_hnsw(session, agent_id)
        texts = [
            text_for_embedding(
                row.text, title=documents[row.document_id][0], heading_path=tuple(row.heading_path or ())
            )
            for row in rows
        ]
        write_postings(session, agent_id, ids, texts)
