"""Retrieval: from a query to ranked `SearchHit`s, reading a consistent snapshot.

The index version, the vector search and the chunk rows are all read inside one SQL
transaction, so a search never mixes chunks from before and after a concurrent sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from agentkit.store.models import AgentRow, ChunkRow, DocumentRow
from agentkit.results import SearchHit

if TYPE_CHECKING:
    from agentkit.embedding import Embedder
    from agentkit.index import VectorIndex
    from agentkit.index_store import AgentIndexFiles

SEARCH_MODES = ("dense",)


class SearchError(Exception):
    """A search could not run (bad mode, bad k)."""


class Retriever:
    """Searches one agent's chunks; keeps the loaded index while SQL's version stays the same."""

    def __init__(self, *, agent_id: int, embedder: Embedder, index_files: AgentIndexFiles) -> None:
        self.agent_id = agent_id
        self.embedder = embedder
        self.index_files = index_files
        self._vectors: VectorIndex | None = None
        self._version: int | None = None

    def search(self, session: Session, query: str, *, k: int, mode: str) -> list[SearchHit]:
        """The k best chunks for `query`. `session` must be inside a transaction."""
        if mode not in SEARCH_MODES:
            raise SearchError(f"unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        if k < 1:
            raise SearchError("k must be at least 1")
        vectors = self._current_vectors(session)
        if not query.strip() or len(vectors) == 0:
            return []
        scored = vectors.search(self.embedder.embed_query(query), k)
        return hits_for_chunks(session, scored, dense_scores=dict(scored))

    def _current_vectors(self, session: Session) -> VectorIndex:
        version = session.scalar(select(AgentRow.index_version).where(AgentRow.id == self.agent_id))
        assert version is not None
        if self._vectors is None or self._version != version:
            loaded = self.index_files.load(session, agent_id=self.agent_id, index_version=version)
            self._vectors, self._version = loaded.vectors, version
        return self._vectors


def hits_for_chunks(
    session: Session,
    scored: Sequence[tuple[int, float]],
    *,
    dense_scores: dict[int, float] | None = None,
    lexical_scores: dict[int, float] | None = None,
) -> list[SearchHit]:
    """SearchHits for (chunk id, score) pairs, in the given order; unknown ids are dropped."""
    if not scored:
        return []
    ids = [chunk_id for chunk_id, _ in scored]
    rows = session.execute(
        select(ChunkRow, DocumentRow)
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .where(ChunkRow.id.in_(ids))
    ).all()
    by_id = {chunk.id: (chunk, document) for chunk, document in rows}
    hits: list[SearchHit] = []
    for chunk_id, score in scored:
        if chunk_id not in by_id:
            continue
        chunk, document = by_id[chunk_id]
        record_id = document.meta.get("record_id") if isinstance(document.meta, dict) else None
        hits.append(
            SearchHit(
                chunk_id=chunk.id,
                score=float(score),
                text=chunk.text,
                title=document.title,
                uri=document.uri,
                page=chunk.page,
                heading_path=tuple(chunk.heading_path or ()),
                anchor=chunk.anchor,
                document_id=document.id,
                source_id=document.source_id,
                fetched_at=document.fetched_at.isoformat() if document.fetched_at else None,
                record_id=str(record_id) if record_id is not None else None,
                dense_score=(dense_scores or {}).get(chunk_id),
                lexical_score=(lexical_scores or {}).get(chunk_id),
            )
        )
    return hits
