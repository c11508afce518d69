"""The PostgreSQL side of the pgvector backend: its tables, which agents use it, writer locks.

Shared tables (created by Alembic revision 0004, or by `agentkit index move` when pgvector was
installed on the server later):
- `agentkit_index_backends`: one row per agent whose backend was recorded, naming it
  (`pgvector`, or the file backend it was moved to) with the embedder and dimension of the
  vectors the database holds for it. A `pgvector` row means the agent's vector table and
  postings hold exactly its chunks: every write keeps them so in its own transaction.
- `agentkit_lexical_postings` (agent, term, chunk, term count, chunk length; its primary key
  index carries the count and length, so a query term's postings are read from the index
  alone, in one range, not from heap pages scattered by insertion order) and
  `agentkit_lexical_lengths` (chunk, agent, length): the BM25 index, see
  `agentkit.index.pg_lexical`.
Per agent on pgvector: `agentkit_vectors_<agent id>` (chunk id, `vector(N)`) with an HNSW index
over inner product. Every table's chunk id references `chunks(id) ON DELETE CASCADE`, so a
deleted chunk can never leave a vector or a posting behind.

Which backend an agent uses (`backend_for_agent`): the recorded one; else
`AGENTKIT_INDEX_BACKEND` when set; else `pgvector` when this database has the tables, else the
default file backend. Asking for `pgvector` where it is missing is a clear error.

Writers of a database with these tables lock an agent with a PostgreSQL advisory lock
(`advisory_write_lock`), held by a connection of its own: every process on every machine sees
it, and the server drops it when the holder dies, even by SIGKILL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from agentkit.errors import AgentBusyError, InvalidSettingError
from agentkit.index.registry import INDEX_BACKEND_VARIABLE, configured_backend_name

PGVECTOR = "pgvector"
BACKENDS_TABLE = "agentkit_index_backends"
POSTINGS_TABLE = "agentkit_lexical_postings"
LENGTHS_TABLE = "agentkit_lexical_lengths"
# The first key of the two-key advisory lock: 'agkt'; the second is the agent id.
LOCK_CLASS = 0x61676B74
INSTALL_HINT = (
    "install pgvector on the PostgreSQL server (https://github.com/pgvector/pgvector: the "
    "postgresql-NN-pgvector package, or the pgvector/pgvector Docker image), run `CREATE "
    "EXTENSION vector` in the database as a superuser unless agentkit connects as one, then "
    "`agentkit index move NAME --to pgvector`; or unset AGENTKIT_INDEX_BACKEND to keep index files"
)

_SCHEMA = (
    "CREATE EXTENSION IF NOT EXISTS vector",
    f"""CREATE TABLE IF NOT EXISTS {BACKENDS_TABLE} (
        agent_id integer PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
        backend varchar(100) NOT NULL,
        embedder_id varchar(500) NOT NULL,
        dimension integer NOT NULL,
        chunker_version varchar(50) NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {LENGTHS_TABLE} (
        chunk_id integer PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
        agent_id integer NOT NULL,
        length integer NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS ix_{LENGTHS_TABLE}_agent ON {LENGTHS_TABLE} (agent_id) INCLUDE (length)",
    f"""CREATE TABLE IF NOT EXISTS {POSTINGS_TABLE} (
        agent_id integer NOT NULL,
        term text NOT NULL,
        chunk_id integer NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
        count integer NOT NULL,
        length integer NOT NULL,
        PRIMARY KEY (agent_id, term, chunk_id) INCLUDE (count, length)
    )""",
    f"CREATE INDEX IF NOT EXISTS ix_{POSTINGS_TABLE}_chunk ON {POSTINGS_TABLE} (chunk_id)",
)


class PgVectorUnavailableError(InvalidSettingError):
    """pgvector was asked for where the database cannot hold it."""


def vector_extension_available(connection: Connection) -> bool:
    """True when this database has the `vector` extension, or the server has it and this user
    may create it (it is not a trusted extension: that takes a superuser)."""
    return bool(
        connection.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') OR ("
                "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AND "
                "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user))"
            )
        ).scalar()
    )


def create_pgvector_schema(connection: Connection) -> None:
    """Create the extension and the shared tables (idempotent)."""
    for statement in _SCHEMA:
        connection.execute(text(statement))


def drop_pgvector_schema(connection: Connection) -> None:
    for (table,) in connection.execute(
        text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'agentkit\\_vectors\\_%'")
    ).all():
        connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
    for table in (POSTINGS_TABLE, LENGTHS_TABLE, BACKENDS_TABLE):
        connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


def has_pgvector_schema(connection: Connection | Session) -> bool:
    """True when this database holds the pgvector tables (PostgreSQL with revision 0004 applied)."""
    dialect = connection.get_bind().dialect if isinstance(connection, Session) else connection.dialect
    if dialect.name != "postgresql":
        return False
    return connection.execute(text(f"SELECT to_regclass('{BACKENDS_TABLE}') IS NOT NULL")).scalar() is True


def vector_table(agent_id: int) -> str:
    return f"agentkit_vectors_{int(agent_id)}"


def drop_agent_tables(session: Session, agent_id: int) -> None:
    """Remove the agent's vector table and postings (moved to files, or deleted); nothing where
    the database has no pgvector tables."""
    if not has_pgvector_schema(session):
        return
    session.execute(text(f"DROP TABLE IF EXISTS {vector_table(agent_id)}"))
    for table in (POSTINGS_TABLE, LENGTHS_TABLE):
        session.execute(text(f"DELETE FROM {table} WHERE agent_id = :agent"), {"agent": agent_id})


def recorded_backend(session: Session, agent_id: int) -> tuple[str, str, int, str] | None:
    """(backend, embedder id, dimension, chunker version) recorded for the agent, or None."""
    row = session.execute(
        text(
            f"SELECT backend, embedder_id, dimension, chunker_version FROM {BACKENDS_TABLE} "
            "WHERE agent_id = :agent"
        ),
        {"agent": agent_id},
    ).first()
    return None if row is None else (str(row[0]), str(row[1]), int(row[2]), str(row[3]))


def record_backend(
    session: Session, agent_id: int, *, backend: str, embedder_id: str, dimension: int, chunker_version: str
) -> None:
    session.execute(
        text(
            f"INSERT INTO {BACKENDS_TABLE} (agent_id, backend, embedder_id, dimension, chunker_version) "
            "VALUES (:agent, :backend, :embedder, :dimension, :chunker) ON CONFLICT (agent_id) DO UPDATE "
            "SET backend = excluded.backend, embedder_id = excluded.embedder_id, "
            "dimension = excluded.dimension, chunker_version = excluded.chunker_version"
        ),
        {
            "agent": agent_id,
            "backend": backend,
            "embedder": embedder_id,
            "dimension": dimension,
            "chunker": chunker_version,
        },
    )


def backend_for_agent(session: Session, agent_id: int) -> str:
    """The index backend the agent uses (see the module docstring)."""
    asked = os.environ.get(INDEX_BACKEND_VARIABLE, "").strip()
    if not has_pgvector_schema(session):
        if asked == PGVECTOR:
            dialect = session.get_bind().dialect.name
            where = (
                "SQLite cannot hold it" if dialect == "sqlite" else "this PostgreSQL server has no pgvector"
            )
            raise PgVectorUnavailableError(
                f"{INDEX_BACKEND_VARIABLE}=pgvector but the database has no pgvector tables ({where}); "
                f"point --db at a PostgreSQL server with pgvector: {INSTALL_HINT}"
            )
        return configured_backend_name()
    recorded = recorded_backend(session, agent_id)
    if recorded is not None:
        if recorded[0] == PGVECTOR or asked in ("", PGVECTOR):
            return recorded[0]
        return asked  # a file backend either way: the environment picks which
    return asked or PGVECTOR


@contextmanager
def advisory_write_lock(
    engine: Engine, *, agent_id: int, agent_name: str, timeout_s: float
) -> Iterator[None]:
    """Hold the agent's writer lock, a session advisory lock on a connection of its own."""
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + timeout_s
        while not connection.execute(
            text("SELECT pg_try_advisory_lock(:class, :agent)"), {"class": LOCK_CLASS, "agent": agent_id}
        ).scalar():
            if time.monotonic() >= deadline:
                holder = connection.execute(
                    text(
                        "SELECT a.client_addr, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.classid = :class AND l.objid = :agent LIMIT 1"
                    ),
                    {"class": LOCK_CLASS, "agent": agent_id},
                ).first()
                who = f"server backend pid {holder[1]}" if holder else "unknown"
                raise AgentBusyError(
                    f"agent {agent_name!r} is being changed by another process ({who}); wait for it "
                    "to finish and try again"
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(:class, :agent)"), {"class": LOCK_CLASS, "agent": agent_id}
            )
