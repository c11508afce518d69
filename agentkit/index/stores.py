"""Which store holds an agent's index, and which lock its writers take.

`open_agent_index` gives the agent's `AgentIndex`: `PgVectorIndex` when
`agentkit.index.pg_schema.backend_for_agent` says `pgvector`, else `AgentIndexFiles` with the
file backend it names. `writer_lock` is a PostgreSQL advisory lock on a database that holds the
pgvector tables (writers may be on several machines), else the lock file in the home folder.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from agentkit.index.agent_index import AgentIndex
from agentkit.index.files import AgentIndexFiles
from agentkit.index.locking import agent_write_lock, write_lock_timeout_s
from agentkit.index.pg_schema import PGVECTOR, advisory_write_lock, backend_for_agent, has_pgvector_schema
from agentkit.index.pgvector import PgVectorIndex


def open_agent_index(
    sessions: sessionmaker[Session],
    *,
    agent_id: int,
    agent_name: str,
    folder: Path,
    embedder_id: str,
    dimension: int,
    backend: str | None = None,
) -> AgentIndex:
    """The agent's index store; `backend` overrides the choice (`agentkit index move`)."""
    if backend is None:
        with sessions() as session:
            backend = backend_for_agent(session, agent_id)
    if backend == PGVECTOR:
        return PgVectorIndex(folder, agent_name=agent_name, embedder_id=embedder_id, dimension=dimension)
    return AgentIndexFiles(
        folder, agent_name=agent_name, embedder_id=embedder_id, dimension=dimension, backend=backend
    )


def writer_lock(
    sessions: sessionmaker[Session], *, agent_id: int, agent_name: str, lock_path: Path
) -> AbstractContextManager[None]:
    """The agent's one-writer lock (see the module docstring)."""
    timeout_s = write_lock_timeout_s()
    with sessions() as session:
        shared = has_pgvector_schema(session)
        engine = session.get_bind()
    if shared:
        return advisory_write_lock(engine, agent_id=agent_id, agent_name=agent_name, timeout_s=timeout_s)  # type: ignore[arg-type]
    return agent_write_lock(lock_path, agent_name=agent_name, timeout_s=timeout_s)
