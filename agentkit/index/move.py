"""Moving an agent's index between backends (`agentkit index move NAME --to pgvector|faiss`).

The vectors are the ones SQL stores with every chunk: nothing is embedded again. Interruptible
without loss:
- to pgvector, the vector table, the postings and the record that the agent now uses them are
  written in one transaction; killed before its commit, the agent stays on its files;
- to a file backend, the files are written first (atomically, at the current SQL version), then
  one transaction records the choice and drops the agent's pgvector tables; killed in between,
  the agent stays on pgvector and the files wait unused.
Both run under the agent's writer lock, so no sync changes the chunks meanwhile.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from agentkit.index.files import AgentIndexFiles, check_stored_dimension
from agentkit.index.pg_schema import (
    INSTALL_HINT,
    PGVECTOR,
    PgVectorUnavailableError,
    backend_for_agent,
    create_pgvector_schema,
    drop_agent_tables,
    has_pgvector_schema,
    record_backend,
    vector_extension_available,
)
from agentkit.index.pgvector import PgVectorIndex
from agentkit.index.registry import index_backend
from agentkit.index.stores import writer_lock
from agentkit.store.models import AgentRow

if TYPE_CHECKING:
    from agentkit.kit import AgentKit


@dataclass(frozen=True)
class MoveReport:
    agent: str
    source: str
    target: str
    chunks: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "from": self.source,
            "to": self.target,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }


def move_index(kit: AgentKit, name: str, *, to: str) -> MoveReport:
    """Move agent `name`'s index to backend `to` (`pgvector` or a file backend's name)."""
    started = time.perf_counter()
    if to != PGVECTOR:
        index_backend(to)  # an unknown name is refused before anything changes
    agent = kit.get_agent(name)
    embedder = kit.embedder(agent.embedder_id)
    folder = kit.index_folder(agent.index_key)
    if to == PGVECTOR:
        _ensure_pgvector_schema(kit)
    with writer_lock(
        kit.sessions, agent_id=agent.id, agent_name=name, lock_path=kit.lock_path(agent.index_key)
    ):
        with kit.sessions() as session:
            source = backend_for_agent(session, agent.id)
        if to == PGVECTOR:
            index = PgVectorIndex(
                folder, agent_name=name, embedder_id=embedder.embedder_id, dimension=embedder.dimension
            )
            with kit.sessions() as session, session.begin():
                check_stored_dimension(session, agent_id=agent.id, expected=index.expected, agent_name=name)
                index.build(session, agent.id)
                chunks = _chunk_count(session, agent.id)
            shutil.rmtree(folder, ignore_errors=True)  # the files are no longer read
        else:
            files = AgentIndexFiles(
                folder,
                agent_name=name,
                embedder_id=embedder.embedder_id,
                dimension=embedder.dimension,
                backend=to,
            )
            with kit.sessions() as session, session.begin():
                check_stored_dimension(session, agent_id=agent.id, expected=files.expected, agent_name=name)
                version = session.scalar(select(AgentRow.index_version).where(AgentRow.id == agent.id))
                assert version is not None
                chunks = len(files.rebuild_and_save(session, agent_id=agent.id, index_version=version))
            with kit.sessions() as session, session.begin():
                if has_pgvector_schema(session):
                    record_backend(
                        session,
                        agent.id,
                        backend=to,
                        embedder_id=embedder.embedder_id,
                        dimension=embedder.dimension,
                        chunker_version=files.expected.chunker_version,
                    )
                    drop_agent_tables(session, agent.id)
    return MoveReport(name, source, to, chunks, time.perf_counter() - started)


def _ensure_pgvector_schema(kit: AgentKit) -> None:
    """Create the pgvector tables where the server has pgvector (installed after the upgrade)."""
    with kit.engine.begin() as connection:
        if connection.dialect.name != "postgresql":
            raise PgVectorUnavailableError(
                f"the database {kit.engine.url.render_as_string(hide_password=True)} is not PostgreSQL; "
                f"pgvector needs a PostgreSQL server with the vector extension: {INSTALL_HINT}"
            )
        if connection.execute(text("SELECT to_regclass('agentkit_index_backends') IS NOT NULL")).scalar():
            return
        if not vector_extension_available(connection):
            raise PgVectorUnavailableError(
                f"this database has no pgvector extension and this user cannot create it: {INSTALL_HINT}"
            )
        create_pgvector_schema(connection)


def _chunk_count(session: Any, agent_id: int) -> int:
    return int(
        session.execute(
            text(
                "SELECT count(*) FROM chunks c JOIN documents d ON c.document_id = d.id "
                "JOIN sources s ON d.source_id = s.id WHERE s.agent_id = :agent"
            ),
            {"agent": agent_id},
        ).scalar()
        or 0
    )
