"""Ingest and sync: source -> connector -> diff against stored hashes -> chunk -> embed -> index.

`sync_source` is the one path for adding a source and for re-syncing it:
1. read the source through its connector (nothing stored changes if the whole source fails);
2. compare each document's content hash with what SQL holds: unchanged documents are not
   chunked or embedded again; changed ones are re-chunked; vanished ones are removed;
3. embed the new chunks (before any write, so the write transaction is short);
4. commit all SQL changes in one transaction that also bumps the agent's `index_version`;
5. apply the same change to the agent's FAISS index and save it atomically.

A process killed anywhere leaves SQL at the old or the new state; an index file that lags
behind SQL is rebuilt from the vectors stored in SQL (see `agentkit.index.files`), and the
next writer saves the rebuilt file (`agentkit.index.maintenance.bring_index_up_to_date`).

`remove_source` is the other write: a source with all its documents and chunks leaves SQL in
one transaction that bumps `index_version`, then its vectors leave the index.

Every statement that lists ids is cut into batches of `ID_BATCH` ids, so a source with many
thousands of documents stays within the bound-parameter limits of SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from agentkit.errors import ConnectorError
from agentkit.index.files import AgentIndexFiles, IndexUpdate
from agentkit.ingest.chunking import Chunk, ChunkingSettings, chunk_document, text_for_embedding
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow, utc_now
from connectors import Document, PreviousFetch, SkippedItem, UnchangedItem, open_connector

if TYPE_CHECKING:
    import numpy as np

    from agentkit.models.embedders import Embedder

ID_BATCH = 500


@dataclass(frozen=True)
class FailedItem:
    uri: str
    error: str


@dataclass
class SourceSyncReport:
    """What one sync of one source did. Counts are documents unless named otherwise."""

    source_id: int | None
    kind: str
    uri: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[FailedItem] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_removed: int = 0
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    error: str | None = None
    # Seconds per step (read, embed, write, index), for profiling; not part of the JSON.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class SyncReport:
    """A sync over several sources, summed for display and JSON."""

    sources: list[SourceSyncReport] = field(default_factory=list)
    # Set when the agent could not be synced at all (another writer held it, say).
    error: str | None = None

    def total(self, name: str) -> int:
        return sum(int(getattr(report, name)) for report in self.sources)

    @property
    def failed(self) -> list[FailedItem]:
        items: list[FailedItem] = []
        if self.error:
            items.append(FailedItem("", self.error))
        for report in self.sources:
            if report.error:
                items.append(FailedItem(report.uri, report.error))
            items.extend(report.failed)
        return items

    @property
    def seconds(self) -> float:
        return sum(report.seconds for report in self.sources)

    @property
    def ok(self) -> bool:
        """False when the agent or a whole source could not be synced."""
        return self.error is None and not any(report.error for report in self.sources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.total("added"),
            "updated": self.total("updated"),
            "removed": self.total("removed"),
            "unchanged": self.total("unchanged"),
            "failed": [{"uri": item.uri, "error": item.error} for item in self.failed],
            "chunks_embedded": self.total("chunks_embedded"),
            "documents": self.total("documents"),
            "chunks": self.total("chunks"),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class SourceSpec:
    """A source to sync: an existing row (`source_id`) or a new one to create on success."""

    kind: str
    uri: str
    options: Mapping[str, Any]
    source_id: int | None = None
    refresh_interval_s: int | None = None


@dataclass
class _PlannedDocument:
    document: Document
    existing_id: int | None
    chunks: list[Chunk]


def sync_source(
    sessions: sessionmaker[Session],
    *,
    agent_id: int,
    spec: SourceSpec,
    embedder: Embedder,
    index_files: AgentIndexFiles,
    progress: bool = False,
) -> SourceSyncReport:
    """Bring one source's documents, chunks and vectors up to date. See the module docstring.

    The caller holds the agent's write lock.
    """
    started = time.perf_counter()
    report = SourceSyncReport(source_id=spec.source_id, kind=spec.kind, uri=spec.uri)

    with sessions() as session:
        agent = session.get(AgentRow, agent_id)
        assert agent is not None
        chunking = ChunkingSettings(**agent.chunking)
        # Another process may have created the source since the caller looked.
        source_id = (
            spec.source_id if spec.source_id is not None else _existing_source_id(session, agent_id, spec)
        )
        stored = _stored_documents(session, source_id)
    report.source_id = source_id

    previous = {uri: PreviousFetch(row.content_hash, row.meta or {}) for uri, row in stored.items()}
    try:
        connector = open_connector(spec.kind, spec.uri, spec.options)
        items = list(connector.fetch(previous))
    except ConnectorError as error:
        report.error = str(error)
        report.seconds = time.perf_counter() - started
        if source_id is not None:
            _record_source_error(sessions, source_id, str(error))
        return report

    planned: list[_PlannedDocument] = []
    seen: set[str] = set()
    touched_unchanged: list[int] = []
    metadata_updates: dict[int, dict[str, object]] = {}
    for item in items:
        if item.uri in seen:
            continue  # a connector listed the same item twice; the first one wins
        seen.add(item.uri)
        existing = stored.get(item.uri)
        if isinstance(item, SkippedItem):
            report.failed.append(FailedItem(item.uri, item.reason))
        elif isinstance(item, UnchangedItem):
            if existing is not None:
                report.unchanged += 1
                touched_unchanged.append(existing.id)
        elif existing is not None and existing.content_hash == item.content_hash:
            report.unchanged += 1
            touched_unchanged.append(existing.id)
            if (existing.meta or {}) != item.metadata:  # new ETag, mtime or links: no re-embed
                metadata_updates[existing.id] = dict(item.metadata)
        else:
            planned.append(
                _PlannedDocument(item, existing.id if existing else None, chunk_document(item, chunking))
            )
    vanished_ids = [row.id for uri, row in stored.items() if uri not in seen]
    report.timings["read"] = time.perf_counter() - started

    if source_id is None and not planned and not touched_unchanged:
        report.error = _nothing_to_ingest_message(spec.uri, report.failed)
        report.seconds = time.perf_counter() - started
        return report

    texts = [
        text_for_embedding(chunk.text, title=plan.document.title, heading_path=chunk.heading_path)
        for plan in planned
        for chunk in plan.chunks
    ]
    step = time.perf_counter()
    vectors = embedder.embed(texts, progress=progress)
    report.chunks_embedded = len(texts)
    report.timings["embed"] = time.perf_counter() - step

    step = time.perf_counter()
    with sessions() as session, session.begin():
        agent = session.get(AgentRow, agent_id)
        assert agent is not None
        old_version = agent.index_version
        source = _source_row(session, agent_id, spec, source_id)
        removed_chunk_ids = _remove_chunks(
            session, vanished_ids + [p.existing_id for p in planned if p.existing_id]
        )
        for batch in _batches(vanished_ids):
            session.execute(delete(DocumentRow).where(DocumentRow.id.in_(batch)))
        now = utc_now()
        added_ids = _insert_documents(session, source.id, planned, vectors, now)
        for batch in _batches(touched_unchanged):
            session.execute(update(DocumentRow).where(DocumentRow.id.in_(batch)).values(fetched_at=now))
        for document_id, metadata in metadata_updates.items():
            session.execute(update(DocumentRow).where(DocumentRow.id == document_id).values(meta=metadata))
        report.added = sum(1 for p in planned if p.existing_id is None)
        report.updated = len(planned) - report.added
        report.removed = len(vanished_ids)
        report.chunks_removed = len(removed_chunk_ids)
        source.status = "ready"
        source.last_error = _failure_summary(report.failed)
        source.last_synced_at = now
        new_version = old_version + 1 if (removed_chunk_ids or added_ids) else old_version
        agent.index_version = new_version
        report.source_id = source.id
        report.documents, report.chunks = source_totals(session, source.id)
        index_update = IndexUpdate(
            removed_ids=removed_chunk_ids, added_ids=added_ids, added_vectors=vectors, added_texts=texts
        )
    report.timings["write"] = time.perf_counter() - step

    step = time.perf_counter()
    if new_version != old_version or index_files.manifest() is None:
        with sessions() as session:
            index_files.apply_update(
                session,
                agent_id=agent_id,
                old_version=old_version,
                new_version=new_version,
                change=index_update,
            )
    report.timings["index"] = time.perf_counter() - step
    report.seconds = time.perf_counter() - started
    return report


def remove_source(
    sessions: sessionmaker[Session],
    *,
    agent_id: int,
    source_id: int,
    index_files: AgentIndexFiles,
) -> SourceSyncReport | None:
    """Delete a source with its documents and chunks, then drop their vectors from the index.

    One transaction removes the rows and bumps `index_version`; the index is updated after
    the commit, like a sync. Returns None when the agent has no source with that id. The
    caller holds the agent's write lock.
    """
    import numpy as np

    started = time.perf_counter()
    with sessions() as session, session.begin():
        source = session.get(SourceRow, source_id)
        if source is None or source.agent_id != agent_id:
            return None
        agent = session.get(AgentRow, agent_id)
        assert agent is not None
        report = SourceSyncReport(source_id=source.id, kind=source.kind, uri=source.uri)
        documents_of_source = select(DocumentRow.id).where(DocumentRow.source_id == source_id)
        removed_chunk_ids = list(
            session.scalars(select(ChunkRow.id).where(ChunkRow.document_id.in_(documents_of_source)))
        )
        report.removed = int(
            session.scalar(
                select(func.count()).select_from(DocumentRow).where(DocumentRow.source_id == source_id)
            )
            or 0
        )
        session.execute(delete(ChunkRow).where(ChunkRow.document_id.in_(documents_of_source)))
        session.execute(delete(DocumentRow).where(DocumentRow.source_id == source_id))
        session.execute(delete(SourceRow).where(SourceRow.id == source_id))
        old_version = agent.index_version
        new_version = old_version + 1
        agent.index_version = new_version
        report.chunks_removed = len(removed_chunk_ids)

    with sessions() as session:
        index_files.apply_update(
            session,
            agent_id=agent_id,
            old_version=old_version,
            new_version=new_version,
            change=IndexUpdate(
                removed_ids=removed_chunk_ids,
                added_ids=[],
                added_vectors=np.zeros((0, index_files.expected.dimension), dtype=np.float32),
                added_texts=[],
            ),
        )
    report.seconds = time.perf_counter() - started
    return report


def _batches(ids: Sequence[int], size: int = ID_BATCH) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _existing_source_id(session: Session, agent_id: int, spec: SourceSpec) -> int | None:
    return session.scalar(
        select(SourceRow.id).where(
            SourceRow.agent_id == agent_id, SourceRow.kind == spec.kind, SourceRow.uri == spec.uri
        )
    )


def _stored_documents(session: Session, source_id: int | None) -> dict[str, Row[Any]]:
    """(id, uri, content_hash, meta) of the source's documents by uri, in one query."""
    if source_id is None:
        return {}
    rows = session.execute(
        select(DocumentRow.id, DocumentRow.uri, DocumentRow.content_hash, DocumentRow.meta).where(
            DocumentRow.source_id == source_id
        )
    ).all()
    return {row.uri: row for row in rows}


def _source_row(session: Session, agent_id: int, spec: SourceSpec, source_id: int | None) -> SourceRow:
    if source_id is not None:
        source = session.get(SourceRow, source_id)
        if source is None:
            raise ConnectorError(f"{spec.uri}: the source was removed while it was syncing; add it again")
        return source
    source = SourceRow(
        agent_id=agent_id,
        kind=spec.kind,
        uri=spec.uri,
        options=dict(spec.options),
        status="pending",
        refresh_interval_s=spec.refresh_interval_s,
    )
    session.add(source)
    session.flush()
    return source


def _remove_chunks(session: Session, document_ids: list[int]) -> list[int]:
    """Delete the chunks of these documents; returns the deleted chunk ids."""
    chunk_ids: list[int] = []
    for batch in _batches(document_ids):
        chunk_ids.extend(session.scalars(select(ChunkRow.id).where(ChunkRow.document_id.in_(batch))))
        session.execute(delete(ChunkRow).where(ChunkRow.document_id.in_(batch)))
    return chunk_ids


def _insert_documents(
    session: Session,
    source_id: int,
    planned: list[_PlannedDocument],
    vectors: np.ndarray,
    now: datetime,
) -> list[int]:
    """Insert or update the planned documents and insert their chunks; returns chunk ids.

    New documents are inserted in one batched flush, then all chunks in another, so the
    cost does not grow with a round trip per document.
    """
    existing: dict[int, DocumentRow] = {}
    for batch in _batches([plan.existing_id for plan in planned if plan.existing_id is not None]):
        existing.update(
            (row.id, row) for row in session.scalars(select(DocumentRow).where(DocumentRow.id.in_(batch)))
        )
    document_rows: list[DocumentRow] = []
    for plan in planned:
        document = plan.document
        if plan.existing_id is not None:
            row = existing[plan.existing_id]
            row.title = document.title
            row.content_hash = document.content_hash
            row.meta = dict(document.metadata)
            row.fetched_at = now
        else:
            row = DocumentRow(
                source_id=source_id,
                uri=document.uri,
                title=document.title,
                content_hash=document.content_hash,
                meta=dict(document.metadata),
                fetched_at=now,
            )
            session.add(row)
        document_rows.append(row)
    session.flush()
    chunk_rows: list[ChunkRow] = []
    row_number = 0
    for plan, document_row in zip(planned, document_rows, strict=True):
        for chunk in plan.chunks:
            chunk_rows.append(
                ChunkRow(
                    document_id=document_row.id,
                    ordinal=chunk.ordinal,
                    text=chunk.text,
                    heading_path=list(chunk.heading_path),
                    page=chunk.page,
                    anchor=chunk.anchor,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    embedding=vectors[row_number].tobytes(),
                )
            )
            row_number += 1
    session.add_all(chunk_rows)
    session.flush()
    return [row.id for row in chunk_rows]


def source_totals(session: Session, source_id: int) -> tuple[int, int]:
    """Number of documents and chunks a source holds."""
    documents = session.scalar(
        select(func.count()).select_from(DocumentRow).where(DocumentRow.source_id == source_id)
    )
    chunks = session.scalar(
        select(func.count())
        .select_from(ChunkRow)
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .where(DocumentRow.source_id == source_id)
    )
    return int(documents or 0), int(chunks or 0)


def _record_source_error(sessions: sessionmaker[Session], source_id: int, message: str) -> None:
    with sessions() as session, session.begin():
        source = session.get(SourceRow, source_id)
        if source is not None:
            source.status = "error"
            source.last_error = message


def _failure_summary(failed: list[FailedItem]) -> str | None:
    if not failed:
        return None
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{first.uri}: {first.error}{more}"


def _nothing_to_ingest_message(uri: str, failed: list[FailedItem]) -> str:
    if failed:
        return f"{uri}: nothing could be ingested; every item was skipped (see the list above)"
    return f"{uri}: nothing to ingest; it holds no supported documents"
