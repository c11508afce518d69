"""The PostgreSQL server restarted in the middle of a sync and of a search.

The test starts its own PostgreSQL (`tests.restartable_postgres`, Debian's binaries, run as
`nobody` under root) and really restarts it (fast shutdown: every connection is dropped) at a
chosen point: inside the write transaction of a sync's second batch, and between the statements
of a search's snapshot. The sync gets a `DatabaseUnavailableError` that names the database and
says what to do; SQL holds no half state (the batch was rolled back, earlier batches stay); the
search, a read, is retried once and succeeds, and fails clearly only when the server is still
down for the retry. The next operation works without any repair: the pool's pre-ping replaces
the dead connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from agentkit import AgentKit
from agentkit.errors import DatabaseUnavailableError
from agentkit.store.models import ChunkRow, DocumentRow
from tests.fakes import FakeEmbedder
from tests.restartable_postgres import RestartablePostgres, restartable_postgres

DOCUMENTS = 60

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres() -> Iterator[RestartablePostgres]:
    with restartable_postgres() as server:
        yield server


@pytest.fixture
def pg_kit(
    postgres: RestartablePostgres, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AgentKit]:
    monkeypatch.setenv("AGENTKIT_SYNC_BATCH_DOCUMENTS", "20")
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS restart_test WITH (FORCE)"))
        connection.execute(text("CREATE DATABASE restart_test"))
    admin.dispose()
    url = postgres.url.rsplit("/", 1)[0] + "/restart_test"
    with AgentKit(home=isolated_home, database_url=url, embedder=FakeEmbedder()) as kit:
        yield kit


def write_notes(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (folder / f"note_{number:02}.md").write_text(
            f"# Note {number}\n\nHarbour note {number} mentions pier{number}.\n"
        )


def stored(kit: AgentKit) -> tuple[int, int]:
    with kit.sessions() as session:
        documents = session.scalar(select(func.count()).select_from(DocumentRow))
        chunks = session.scalar(select(func.count()).select_from(ChunkRow))
    return int(documents or 0), int(chunks or 0)


def test_restart_during_a_sync(pg_kit: AgentKit, postgres: RestartablePostgres, tmp_path: Path) -> None:
    kit = pg_kit
    folder = tmp_path / "notes"
    write_notes(folder, DOCUMENTS)
    agent = kit.create_agent("docs")
    flushes = {"documents": 0}

    @event.listens_for(kit.sessions, "after_flush")
    def restart_in_second_batch(session, context):  # type: ignore[no-untyped-def]
        if any(isinstance(row, ChunkRow) for row in session.new):
            flushes["documents"] += 1
            if flushes["documents"] == 2:  # inside the second batch's transaction, before its commit
                postgres.restart()

    with pytest.raises(DatabaseUnavailableError) as raised:
        agent.add_source(str(folder))
    event.remove(kit.sessions, "after_flush", restart_in_second_batch)
    message = str(raised.value)
    assert "lost the connection to the database postgresql+psycopg://" in message, message
    assert "run the command again" in message.lower()
    assert stored(kit) == (20, 20)  # the first batch, whole; the second rolled back
    [info] = agent.sources()
    assert info.status == "incomplete"

    report = agent.sync()  # no repair: the pool replaces the dropped connections
    assert report.ok and report.total("added") == DOCUMENTS - 20
    assert stored(kit) == (DOCUMENTS, DOCUMENTS)
    assert agent.doctor().healthy


def test_restart_during_a_search(pg_kit: AgentKit, postgres: RestartablePostgres, tmp_path: Path) -> None:
    kit = pg_kit
    folder = tmp_path / "notes"
    write_notes(folder, 10)
    agent = kit.create_agent("docs")
    agent.add_source(str(folder))
    assert agent.search("pier3", k=3)
    fault = {"action": postgres.restart}

    @event.listens_for(kit.engine, "before_cursor_execute")
    def fault_before_chunk_rows(connection, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        action = fault.pop("action", None)
        if action is not None and "FROM chunks" in statement:
            action()
        elif action is not None:
            fault["action"] = action

    # A restart between the statements of a search: the read is retried once, and works.
    hits = agent.search("pier3", k=3)
    assert hits and "note_03" in hits[0].uri and not fault

    # A server still down for the retry: a clear error, then the next search works.
    fault["action"] = postgres.stop
    with pytest.raises(DatabaseUnavailableError, match="could not connect to the database postgresql"):
        agent.search("pier3", k=3)
    event.remove(kit.engine, "before_cursor_execute", fault_before_chunk_rows)
    postgres.start()
    hits = agent.search("pier3", k=3)
    assert hits and "note_03" in hits[0].uri
    assert stored(kit) == (10, 10)
    assert agent.doctor().healthy
