"""Keeping an agent's index honest: `doctor` checks it, `reindex` rebuilds it, writers repair it.

- `diagnose` (`agentkit doctor`) compares the index file with SQL: exactly one vector per chunk
  row and nothing else (id sets compared), a manifest that matches the agent's embedder,
  dimension and chunker and the backend this process uses, and an index version equal to
  the one in SQL.
- `reindex_agent` (`agentkit reindex`) embeds every chunk's text from SQL again, writes the
  vectors back into SQL in one transaction that also records the embedder and bumps
  `index_version`, then rebuilds and saves the index. It is how an agent switches embedders.
- `bring_index_up_to_date` runs at the start of every write: it refuses to write when the
  index or the stored vectors belong to another embedder, and saves an index file rebuilt
  from SQL when the file is missing, damaged, behind SQL (a writer was killed after its
  commit) or written by another backend, so the next sync finishes what a killed one left
  and switches the file to the backend in use. A full disk while it writes is a
  `StorageFullError` (`agentkit.store.failures`); the old file stays whole.

Every function here runs with the agent's write lock held by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from agentkit.errors import EmbedderError, IndexCorruptError, IndexNeedsRepairError, InvalidSettingError
from agentkit.index.agent_index import AgentIndex
from agentkit.index.base import IndexManifest, read_manifest
from agentkit.index.files import AgentIndexFiles
from agentkit.index.pg_schema import PGVECTOR, vector_table
from agentkit.index.pgvector import PgVectorIndex
from agentkit.index.registry import configured_backend_name, index_backend
from agentkit.ingest.chunking import CHUNKER_VERSION, text_for_embedding
from agentkit.plugins import PluginError
from agentkit.store.failures import index_write_errors
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow

if TYPE_CHECKING:
    import numpy as np

    from agentkit.models.embedders import Embedder

# Temporary files of an atomic write older than this belong to a process that died.
STALE_TEMPORARY_FILE_S = 60.0
REINDEX_WRITE_BATCH = 500


@dataclass
class DoctorReport:
    """What `agentkit doctor` found. `problems` make the agent unhealthy; `notes` do not."""

    agent: str
    embedder_id: str
    sql_index_version: int
    sql_chunks: int
    index_file_version: int | None = None
    index_vectors: int | None = None
    index_embedder_id: str | None = None
    index_dimension: int | None = None
    index_chunker_version: str | None = None
    index_backend: str | None = None
    missing_from_index: int = 0
    extra_in_index: int = 0
    duplicate_in_index: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "healthy": self.healthy,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "embedder": self.embedder_id,
            "sql_index_version": self.sql_index_version,
            "sql_chunks": self.sql_chunks,
            "index_file_version": self.index_file_version,
            "index_vectors": self.index_vectors,
            "index_embedder": self.index_embedder_id,
            "index_dimension": self.index_dimension,
            "index_chunker_version": self.index_chunker_version,
            "index_backend": self.index_backend,
            "missing_from_index": self.missing_from_index,
            "extra_in_index": self.extra_in_index,
            "duplicate_in_index": self.duplicate_in_index,
        }


@dataclass(frozen=True)
class ReindexReport:
    """What `agentkit reindex` did."""

    agent: str
    embedder_id: str
    previous_embedder_id: str
    chunks_embedded: int
    index_version: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "embedder": self.embedder_id,
            "previous_embedder": self.previous_embedder_id,
            "chunks_embedded": self.chunks_embedded,
            "index_version": self.index_version,
            "seconds": round(self.seconds, 3),
        }


# ----- checks ---------------------------------------------------------------------------


def diagnose(
    sessions: sessionmaker[Session],
    *,
    agent_id: int,
    folder: Path,
    load_embedder: Callable[[str], Embedder],
    backend: str | None = None,
    index: AgentIndex | None = None,
) -> DoctorReport:
    """Check the agent's index against SQL. `load_embedder(embedder_id)` gives its embedder;
    `backend` is the vector backend the agent should use (default: `AGENTKIT_INDEX_BACKEND`'s);
    `index`, when it is the agent's pgvector index, is checked in the database instead."""
    import numpy as np

    if isinstance(index, PgVectorIndex):
        return diagnose_pgvector(sessions, agent_id=agent_id, index=index)
    if backend is None and index is not None:
        backend = index.backend_name  # the one chosen for this agent (recorded or configured)

    with sessions() as session, session.begin():
        agent = session.get(AgentRow, agent_id)
        assert agent is not None
        chunk_ids = np.array(
            list(session.scalars(_agent_chunks(select(ChunkRow.id), agent_id).order_by(ChunkRow.id))),
            dtype=np.int64,
        )
        vector_sizes = dict(
            session.execute(
                _agent_chunks(select(func.length(ChunkRow.embedding), func.count()), agent_id).group_by(
                    func.length(ChunkRow.embedding)
                )
            ).all()
        )
        report = DoctorReport(
            agent=agent.name,
            embedder_id=agent.embedder_id,
            sql_index_version=agent.index_version,
            sql_chunks=len(chunk_ids),
        )
    name = report.agent
    reindex = f"run `agentkit reindex {name}`"

    expected_dimension: int | None = None
    expected_embedder_id = report.embedder_id
    try:
        embedder = load_embedder(report.embedder_id)
        expected_dimension = embedder.dimension
        expected_embedder_id = embedder.embedder_id
    except EmbedderError as error:
        report.problems.append(f"the agent's embedder cannot be loaded: {error}")

    if expected_dimension is not None:
        wrong = sum(int(count) for size, count in vector_sizes.items() if size != expected_dimension * 4)
        if wrong:
            report.problems.append(
                f"{wrong} chunk rows hold vectors that are not of dimension {expected_dimension} "
                f"(the embedder's); {reindex} to embed them again"
            )

    try:
        manifest = read_manifest(folder)
    except IndexCorruptError as error:
        report.problems.append(
            f"the index manifest is damaged ({error}); run `agentkit sync {name}` to rebuild the "
            f"index from the vectors in the database, or {reindex} to embed every chunk again"
        )
        _note_temporary_files(report, folder)
        return report
    if manifest is None:
        if len(chunk_ids):
            report.problems.append(
                f"there is no index file for {len(chunk_ids)} chunks (searches rebuild it from "
                f"the database every time); run `agentkit sync {name}` or `agentkit reindex {name}`"
            )
        else:
            report.notes.append("no index file yet; the agent has no chunks")
        _note_temporary_files(report, folder)
        return report

    report.index_file_version = manifest.index_version
    report.index_embedder_id = manifest.embedder_id
    report.index_dimension = manifest.dimension
    report.index_chunker_version = manifest.chunker_version
    report.index_backend = manifest.backend
    _check_manifest(report, manifest, expected_embedder_id, expected_dimension, reindex)
    _check_backend(report, manifest, backend)
    if manifest.index_version != report.sql_index_version:
        # Its contents do not matter: readers rebuild from SQL, the next write replaces it.
        report.notes.append("the contents of a lagging index file are not compared with the database")
        _note_temporary_files(report, folder)
        return report
    try:
        stored_backend = index_backend(manifest.backend)
    except (InvalidSettingError, PluginError) as error:
        report.problems.append(
            f"the index file cannot be read ({error}); run `agentkit sync {name}` to rebuild it "
            "from the vectors in the database with the backend in use"
        )
        _note_temporary_files(report, folder)
        return report
    try:
        vectors, _ = stored_backend.load(folder, manifest)
    except IndexCorruptError as error:
        report.problems.append(
            f"the index file is damaged ({error}); run `agentkit sync {name}` to rebuild it from the "
            f"vectors in the database, or {reindex} to embed every chunk again"
        )
        _note_temporary_files(report, folder)
        return report
    check = vectors.verify(chunk_ids)
    report.index_vectors = check.vectors
    report.duplicate_in_index = check.duplicates
    report.missing_from_index = check.missing
    report.extra_in_index = check.extra
    if report.missing_from_index:
        report.problems.append(f"{report.missing_from_index} chunk rows have no vector in the index")
    if report.extra_in_index:
        report.problems.append(
            f"the index holds {report.extra_in_index} vectors of chunks that no longer exist"
        )
    if report.duplicate_in_index:
        report.problems.append(f"the index holds {report.duplicate_in_index} duplicate vectors")
    _note_temporary_files(report, folder)
    return report


def diagnose_pgvector(
    sessions: sessionmaker[Session], *, agent_id: int, index: PgVectorIndex
) -> DoctorReport:
    """Check a pgvector index: built for the agent's embedder, one vector and one length row
    per chunk (foreign keys make extra rows impossible)."""
    with sessions() as session, session.begin():
        agent = session.get(AgentRow, agent_id)
        assert agent is not None
        chunk_count = int(session.scalar(_agent_chunks(select(func.count()), agent_id)) or 0)
        report = DoctorReport(
            agent=agent.name,
            embedder_id=agent.embedder_id,
            sql_index_version=agent.index_version,
            sql_chunks=chunk_count,
            index_backend=PGVECTOR,
        )
        try:
            built = index.is_built(session, agent_id)
        except IndexNeedsRepairError as error:
            report.problems.append(str(error))
            return report
        if not built:
            if chunk_count:
                report.problems.append(
                    f"the pgvector index is not built (searches read every vector from the database); "
                    f"run `agentkit sync {agent.name}` or `agentkit index move {agent.name} --to pgvector`"
                )
            else:
                report.notes.append("no pgvector index yet; the agent has no chunks")
            return report
        report.index_file_version = agent.index_version
        report.index_embedder_id = index.expected.embedder_id
        report.index_dimension = index.expected.dimension
        report.index_chunker_version = index.expected.chunker_version
        vectors = int(session.scalar(text(f"SELECT count(*) FROM {vector_table(agent_id)}")) or 0)
        report.index_vectors = vectors
        report.missing_from_index = chunk_count - vectors
        if report.missing_from_index:
            report.problems.append(
                f"{report.missing_from_index} chunk rows have no vector in the pgvector index; run "
                f"`agentkit index move {agent.name} --to pgvector` to build it again"
            )
    return report


def _check_manifest(
    report: DoctorReport,
    manifest: IndexManifest,
    embedder_id: str,
    dimension: int | None,
    reindex: str,
) -> None:
    if manifest.embedder_id != embedder_id:
        report.problems.append(
            f"the index was built with embedder {manifest.embedder_id!r} but the agent uses "
            f"{embedder_id!r}; {reindex}"
        )
    if dimension is not None and manifest.dimension != dimension:
        report.problems.append(
            f"the index has dimension {manifest.dimension}, the embedder {dimension}; {reindex}"
        )
    if manifest.chunker_version != CHUNKER_VERSION:
        report.problems.append(
            f"the index was built by chunker version {manifest.chunker_version}, this agentkit "
            f"has {CHUNKER_VERSION}; {reindex}"
        )
    if manifest.index_version != report.sql_index_version:
        report.problems.append(
            f"the index file is at version {manifest.index_version} but the database at "
            f"{report.sql_index_version} (a write was interrupted; searches rebuild the index "
            f"from the database meanwhile); run `agentkit sync {report.agent}` to finish it"
        )


def _check_backend(report: DoctorReport, manifest: IndexManifest, backend: str | None) -> None:
    """A file written by another backend is correct but unused: readers rebuild from SQL."""
    wanted = backend or configured_backend_name()
    if manifest.backend != wanted:
        report.problems.append(
            f"the index file was written by the {manifest.backend!r} index backend but this agentkit "
            f"uses {wanted!r} (AGENTKIT_INDEX_BACKEND), so searches rebuild the index from the "
            f"database; run `agentkit sync {report.agent}` to write it with {wanted!r}"
        )


def _note_temporary_files(report: DoctorReport, folder: Path) -> None:
    leftovers = _temporary_files(folder)
    if leftovers:
        report.notes.append(
            f"{len(leftovers)} temporary files from interrupted writes in {folder}; "
            "the next sync removes them"
        )


def _temporary_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [path for path in folder.iterdir() if path.name.startswith(".") and path.name.endswith(".tmp")]


def remove_stale_temporary_files(folder: Path) -> int:
    """Delete temporary files that a killed writer left behind; returns how many."""
    removed = 0
    cutoff = time.time() - STALE_TEMPORARY_FILE_S
    for path in _temporary_files(folder):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _agent_chunks(statement: Any, agent_id: int) -> Any:
    """Restrict a select over chunks to one agent's chunks."""
    return (
        statement.select_from(ChunkRow)
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .join(SourceRow, DocumentRow.source_id == SourceRow.id)
        .where(SourceRow.agent_id == agent_id)
    )


# ----- repairs --------------------------------------------------------------------------


def bring_index_up_to_date(
    sessions: sessionmaker[Session], *, agent_id: int, index_files: AgentIndex
) -> bool:
    """Before a write: refuse a foreign index; rebuild one from SQL if it lags or is damaged.

    Returns True when the index was rebuilt from SQL.
    """
    if isinstance(index_files, AgentIndexFiles):
        remove_stale_temporary_files(index_files.folder)
    with index_write_errors(index_files.folder, index_files.agent_name):  # a full disk: a clear error
        return index_files.bring_up_to_date(sessions, agent_id=agent_id)


def reindex_agent(
    sessions: sessionmaker[Session],
    *,
    agent_id: int,
    embedder_id: str,
    embedder: Embedder,
    index_files: AgentIndex,
    progress: bool = False,
) -> ReindexReport:
    """Embed every chunk again with `embedder` and store it as the agent's embedder.

    The vectors go back into SQL in one transaction with the embedder id and a new index
    version (a kill before the commit changes nothing); then the index is rebuilt and saved.
    """
    started = time.perf_counter()
    with sessions() as session:
        agent = session.get(AgentRow, agent_id)
        assert agent is not None
        previous_embedder_id = agent.embedder_id
        rows = session.execute(
            _agent_chunks(
                select(ChunkRow.id, ChunkRow.text, ChunkRow.heading_path, DocumentRow.title), agent_id
            ).order_by(ChunkRow.id)
        ).all()
    texts = [
        text_for_embedding(text, title=title, heading_path=tuple(heading_path or ()))
        for _, text, heading_path, title in rows
    ]
    vectors = embedder.embed(texts, progress=progress)
    with sessions() as session, session.begin():
        agent = session.get(AgentRow, agent_id)
        assert agent is not None
        _write_vectors(session, [row[0] for row in rows], vectors)
        agent.embedder_id = embedder_id
        agent.index_version = new_version = agent.index_version + 1
        if isinstance(index_files, PgVectorIndex):  # its tables change with the vectors, atomically
            index_files.rebuild(session, agent_id=agent_id, index_version=new_version)
    if not isinstance(index_files, PgVectorIndex):
        with (
            sessions() as session,
            session.begin(),
            index_write_errors(index_files.folder, index_files.agent_name),
        ):
            index_files.rebuild(session, agent_id=agent_id, index_version=new_version)
    return ReindexReport(
        agent=index_files.agent_name,
        embedder_id=embedder_id,
        previous_embedder_id=previous_embedder_id,
        chunks_embedded=len(texts),
        index_version=new_version,
        seconds=time.perf_counter() - started,
    )


def _write_vectors(session: Session, chunk_ids: list[int], vectors: np.ndarray) -> None:
    for start in range(0, len(chunk_ids), REINDEX_WRITE_BATCH):
        session.execute(
            update(ChunkRow),
            [
                {"id": chunk_id, "embedding": vectors[start + offset].tobytes()}
                for offset, chunk_id in enumerate(chunk_ids[start : start + REINDEX_WRITE_BATCH])
            ],
        )
