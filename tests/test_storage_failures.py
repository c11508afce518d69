"""Storage faults become clear errors (`agentkit.store.failures`), without root or a server.

The real faults (a full tmpfs, a restarted PostgreSQL) are the slow `tests/test_faults_*.py`.
Here SQLite's own page limit (`PRAGMA max_page_count`) makes the database "full".
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from agentkit import AgentKit
from agentkit.errors import StorageError, StorageFullError
from agentkit.store.failures import index_write_errors
from agentkit.store.models import DocumentRow
from tests.fakes import FakeEmbedder


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_no_space_while_writing_the_index_is_a_storage_error(tmp_path: Path, code: int) -> None:
    with pytest.raises(StorageFullError, match=r"index of agent .docs. in .* `agentkit sync docs`"):
        with index_write_errors(tmp_path, "docs"):
            raise OSError(code, "No space left on device")


def test_other_os_errors_pass_through(tmp_path: Path) -> None:
    with pytest.raises(PermissionError):
        with index_write_errors(tmp_path, "docs"):
            raise PermissionError(errno.EACCES, "Permission denied")


def test_a_full_database_rolls_back_with_a_clear_error(isolated_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for number in range(3):
        (folder / f"small_{number}.md").write_text(f"# Small {number}\n\nA short note {number}.\n")
    with AgentKit(home=isolated_home, embedder=FakeEmbedder()) as kit:
        agent = kit.create_agent("docs")
        agent.add_source(str(folder))
        with kit.engine.connect() as connection:
            pages = int(connection.exec_driver_sql("PRAGMA page_count").scalar() or 0)

        @event.listens_for(kit.engine, "connect")
        def cap(dbapi_connection, record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute(f"PRAGMA max_page_count={pages + 2}")

        kit.engine.dispose()  # new connections get the cap
        big = tmp_path / "big"
        big.mkdir()
        for number in range(40):
            (big / f"big_{number}.md").write_text(f"# Big {number}\n\n" + "lorem ipsum dolor " * 300 + "\n")
        with pytest.raises(StorageFullError, match="agentkit.db could not be written") as raised:
            agent.add_source(str(big))
        assert isinstance(raised.value, StorageError) and raised.value.exit_code == 75
        with kit.sessions() as session:
            assert session.scalar(select(func.count()).select_from(DocumentRow)) == 3
        assert len(agent.sources()) == 1
        event.remove(kit.engine, "connect", cap)
        kit.engine.dispose()
        assert agent.add_source(str(big)).documents == 40
        assert agent.doctor().healthy
