"""Ingest and sync: source -> connector -> diff against stored hashes -> chunk -> embed -> index.

`sync_source` is the one path for adding a source and for re-syncing it:
1. read the source through its connector as a stream;
2. compare each document's content hash with what SQL holds: unchanged documents are not
   chunked or embedded again; changed ones are re-chunked;
3. every batch (`agentkit.ingest.batching`: N documents or T seconds) is embedded, then
   committed in one transaction that bumps the agent's `index_version`, then applied to the
   agent's index files, saved atomically. A document is old or new, never half-replaced, and
   no chunk is ever stored without its vector;
4. until the last commit the source is marked "incomplete", so a killed `add`/`sync` keeps
   what it finished and the next sync resumes it (what was committed is unchanged by then and
   embeds nothing). Documents that vanished from the source are removed only by the last
   commit, after a complete pass; it marks the source "ready".
A whole source that cannot be read changes nothing (beyond batches committed before the failure).

A process killed anywhere leaves SQL at a committed batch; an index file that lags
behind SQL is rebuilt from the vectors stored in SQL (see `agentkit.index.files`), and the
next writer saves the rebuilt file (`agentkit.index.maintenance.bring_index_up_to_date`).
A full disk or a lost database connection is a `StorageError` (`agentkit.store.failures`).

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
from agentkit.index.agent_index import AgentIndex, IndexUpdate
from agentkit.ingest.batching import Batching
from agentkit.ingest.chunking import Chunk, ChunkingSettings, chunk_document, text_for_embedding
from agentkit.ingest.reports import FailedItem, SourceSyncReport
from agentkit.ingest.reports import SyncReport as SyncReport  # re-exported: callers import it from here
from agentkit.store.failures import index_write_errors
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow, utc_now
from connectors import Document, PreviousFetch, SkippedItem, UnchangedItem, open_connector

if TYPE_CHECKING:
    import numpy as np

    from agentkit.models.embedders import Embedder

ID_BATCH = 500


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
    index_files: AgentIndex,
    progress: bool = False,
    batching: Batching | None = None,
) -> SourceSyncReport:
    """Bring one source's documents, chunks and vectors up to date. See the module docstring.

    The caller holds the agent's write lock.
    """
    started = time.perf_counter()
    report = SourceSyncReport(source_id=spec.source_id, kind=spec.kind, uri=spec.uri)
    batching = batching or Batching.from_environment()

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
    writer = _BatchWriter(sessions, agent_id, spec, embedder, index_files, report, progress)

    previous = {uri: PreviousFetch(row.content_hash, row.meta or {}) for uri, row in stored.items()}
    pending = _Pending()
    seen: set[str] = set()
    try:
        connector = open_connector(spec.kind, spec.uri, spec.options)
        for item in connector.fetch(previous):
            if item.uri in seen:
                continue  # a connector listed the same item twice; the first one wins
            seen.add(item.uri)
            _plan_item(item, stored.get(item.uri), chunking, pending, report)
            if batching.due(
                documents=len(pending.planned),
                chunks=pending.chunks,
                waited_s=time.perf_counter() - writer.last_commit_end + writer.last_embed_s,
                index_chunks=writer.index_chunks,
            ):
                writer.commit(pending, vanished_ids=[], final=False)
                pending = _Pending()
    except ConnectorError as error:
        report.error = str(error)
        report.seconds = time.perf_counter() - started
        if writer.source_id is not None:  # batches committed before the failure stay
            _record_source_error(sessions, writer.source_id, str(error))
        return report

    # Only a complete pass knows which documents vanished.
    vanished_ids = [row.id for uri, row in stored.items() if uri not in seen]
    if writer.source_id is None and not pending.planned and not pending.unchanged:
        report.error = _nothing_to_ingest_message(spec.uri, report.failed)
        report.seconds = time.perf_counter() - started
        return report
    writer.commit(pending, vanished_ids=vanished_ids, final=True)
    report.seconds = time.perf_counter() - started
    spent = sum(report.timings.get(name, 0.0) for name in ("embed", "write", "index"))
    report.timings["read"] = max(0.0, report.seconds - spent)
    return report


@dataclass
class _Pending:
    """What a sync gathered since its last commit."""

    planned: list[_PlannedDocument] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    metadata_updates: dict[int, dict[str, object]] = field(default_factory=dict)
    chunks: int = 0


def _plan_item(
    item: Document | SkippedItem | UnchangedItem,
    existing: Row[Any] | None,
    chunking: ChunkingSettings,
    pending: _Pending,
    report: SourceSyncReport,
) -> None:
    """Sort one item the connector gave: skipped, unchanged (no embedding), or to (re)ingest."""
    if isinstance(item, SkippedItem):
        report.failed.append(FailedItem(item.uri, item.reason))
    elif isinstance(item, UnchangedItem):
        if existing is not None:
            report.unchanged += 1
            pending.unchanged.append(existing.id)
    elif existing is not None and existing.content_hash == item.content_hash:
        # Unchanged, or finished by an earlier run that was stopped: nothing to embed.
        report.unchanged += 1
        pending.unchanged.append(existing.id)
        if (existing.meta or {}) != item.metadata:  # new ETag, mtime or links: no re-embed
            pending.metadata_updates[existing.id] = dict(item.metadata)
    else:
        plan = _PlannedDocument(item, existing.id if existing else None, chunk_document(item, chunking))
        pending.planned.append(plan)
        pending.chunks += len(plan.chunks)


class _BatchWriter:
    """Commits the batches of one sync: embed, one SQL transaction, then the index files.

    Each commit bumps `index_version` and leaves every document old or new, with all its chunks
    and their vectors. Until the final commit (after a complete pass, the only one that removes
    vanished documents) the source is marked incomplete, so a killed sync shows as such and
    the next one resumes it: what was committed is unchanged by then and embeds nothing.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        agent_id: int,
        spec: SourceSpec,
        embedder: Embedder,
        index_files: AgentIndex,
        report: SourceSyncReport,
        progress: bool,
    ) -> None:
        self.sessions = sessions
        self.agent_id = agent_id
        self.spec = spec
        self.embedder = embedder
        self.index_files = index_files
        self.report = report
        self.progress = progress
        self.source_id = report.source_id
        self.last_commit_end = time.perf_counter()
        with sessions() as session:
            self.index_chunks = _agent_chunk_count(session, agent_id)
        self.last_embed_s = 0.0

    def commit(self, pending: _Pending, *, vanished_ids: list[int], final: bool) -> None:
        report = self.report
        planned = pending.planned
        texts = [
            text_for_embedding(chunk.text, title=plan.document.title, heading_path=chunk.heading_path)
            for plan in planned
            for chunk in plan.chunks
        ]
        step = time.perf_counter()
        vectors = self.embedder.embed(texts, progress=self.progress)
        report.chunks_embedded += len(texts)
        self.last_embed_s = time.perf_counter() - step
        _add_timing(report, "embed", self.last_embed_s)

        step = time.perf_counter()
        with self.sessions() as session, session.begin():
            agent = session.get(AgentRow, self.agent_id)
            assert agent is not None
            old_version = agent.index_version
            source = _source_row(session, self.agent_id, self.spec, self.source_id)
            removed_chunk_ids = _remove_chunks(
                session, vanished_ids + [p.existing_id for p in planned if p.existing_id]
            )
            for batch in _batches(vanished_ids):
                session.execute(delete(DocumentRow).where(DocumentRow.id.in_(batch)))
            now = utc_now()
            added_ids = _insert_documents(session, source.id, planned, vectors, now)
            for batch in _batches(pending.unchanged):
                session.execute(update(DocumentRow).where(DocumentRow.id.in_(batch)).values(fetched_at=now))
            for document_id, metadata in pending.metadata_updates.items():
                session.execute(
                    update(DocumentRow).where(DocumentRow.id == document_id).values(meta=metadata)
                )
            added = sum(1 for p in planned if p.existing_id is None)
            report.added += added
            report.updated += len(planned) - added
            report.removed += len(vanished_ids)
            report.chunks_removed += len(removed_chunk_ids)
            report.documents, report.chunks = source_totals(session, source.id)
            if final:
                source.status = "ready"
                source.last_error = _failure_summary(report.failed)
                source.last_synced_at = now
            else:
                source.status = "incomplete"
                source.last_error = (
                    f"incomplete: a sync is running or was stopped before the end of the source "
                    f"({report.documents} documents stored so far); `agentkit sync "
                    f"{self.index_files.agent_name}` finishes it without embedding those again"
                )
            new_version = old_version + 1 if (removed_chunk_ids or added_ids) else old_version
            agent.index_version = new_version
            self.source_id = report.source_id = source.id
            index_update = IndexUpdate(
                removed_ids=removed_chunk_ids, added_ids=added_ids, added_vectors=vectors, added_texts=texts
            )
        _add_timing(report, "write", time.perf_counter() - step)

        index_step = time.perf_counter()
        if new_version != old_version or self.index_files.manifest() is None:
            with (
                self.sessions() as session,
                index_write_errors(self.index_files.folder, self.index_files.agent_name),
            ):
                self.index_files.apply_update(
                    session,
                    agent_id=self.agent_id,
                    old_version=old_version,
                    new_version=new_version,
                    change=index_update,
                )
        _add_timing(report, "index", time.perf_counter() - index_step)
        self.last_commit_end = time.perf_counter()
        self.index_chunks += len(added_ids) - len(removed_chunk_ids)


def _agent_chunk_count(session: Session, agent_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ChunkRow)
            .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
            .join(SourceRow, DocumentRow.source_id == SourceRow.id)
            .where(SourceRow.agent_id == agent_id)
        )
        or 0
    )


def _add_timing(report: SourceSyncReport, name: str, seconds: float) -> None:
    report.timings[name] = report.timings.get(name, 0.0) + seconds


def remove_source(
    sessions: sessionmaker[Session],
    *,
    agent_id: int,
    source_id: int,
    index_files: AgentIndex,
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

    with sessions() as session, index_write_errors(index_files.folder, index_files.agent_name):
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
