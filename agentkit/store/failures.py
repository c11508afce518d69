"""Storage faults as clear errors: a full disk, a database server that went away.

Two places fail that are not agentkit's fault and that a person can fix:
- the database: SQLite says "database or disk is full"; a PostgreSQL server that restarts
  drops every open connection. `translate_database_errors` hooks the engine's `handle_error`
  event so both surface as a `StorageError` that names the database (its password hidden) and
  says what to do. The transaction is rolled back by then, so SQL holds the last committed
  state, and SQLAlchemy invalidates a dropped connection, so the pool (with `pool_pre_ping`)
  hands the next operation a fresh one: nothing needs repair by hand. A server that cannot be
  reached at all is a `DatabaseUnavailableError` too.
- the index files: `index_write_errors` turns "no space left" (ENOSPC, EDQUOT, EFBIG) while
  an index file is written into `StorageFullError`. Files are written atomically, so the old
  file stays whole; SQL already holds the change and the next write rebuilds the file.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from agentkit.errors import DatabaseUnavailableError, StorageFullError

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# SQLite's SQLITE_FULL text, and PostgreSQL's "could not extend file ...: No space left on device".
_FULL_MARKERS = ("database or disk is full", "no space left on device", "disk full")


def is_no_space(error: BaseException) -> bool:
    """True for an OSError that says the disk (or the file size limit) is full."""
    return isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS


def translate_database_errors(engine: Engine) -> None:
    """Make the engine raise `StorageFullError` / `DatabaseUnavailableError` for those faults."""
    where = engine.url.render_as_string(hide_password=True)
    has_server = engine.dialect.name != "sqlite"

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> None:
        if context.is_pre_ping:
            return  # the pool's liveness check: a dead connection is replaced, not reported
        original = context.original_exception
        detail = _first_line(original)
        if any(marker in detail.lower() for marker in _FULL_MARKERS):
            raise StorageFullError(
                f"the database {where} could not be written: the disk holding it is full "
                f"({detail}). The change was rolled back; what was stored before is intact. "
                "Free some space and run the command again (`agentkit sync NAME` resumes an "
                "interrupted sync)"
            )
        if (
            has_server
            and context.connection is None
            and isinstance(context.sqlalchemy_exception, OperationalError)
        ):
            raise DatabaseUnavailableError(
                f"could not connect to the database {where} ({detail}). Check that the server is "
                "running and reachable, then run the command again"
            )
        if context.is_disconnect:
            raise DatabaseUnavailableError(
                f"lost the connection to the database {where} ({detail}); the server may have "
                "restarted. The operation was rolled back and nothing half-done was kept. Run "
                "the command again once the server is up (`agentkit sync NAME` resumes an "
                "interrupted sync)"
            )


@contextmanager
def index_write_errors(folder: Path, agent_name: str) -> Iterator[None]:
    """Turn a full disk while writing the index files in `folder` into `StorageFullError`."""
    try:
        yield
    except OSError as error:
        if not is_no_space(error):
            raise
        raise StorageFullError(
            f"the index of agent {agent_name!r} in {folder} could not be written: {error.strerror}. "
            "The previous index file is intact and the database holds every committed change. "
            f"Free some space and run `agentkit sync {agent_name}` to finish"
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
