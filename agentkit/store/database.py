"""Where agentkit keeps its data, and the SQLAlchemy engine and sessions over it.

The home folder (`--home`, `AGENTKIT_HOME`, else `$XDG_DATA_HOME/agentkit` or
`~/.local/share/agentkit`) holds the SQLite database (unless `--db` / `AGENTKIT_DATABASE_URL`
names another one), the per-agent index folders and the writer locks.

SQLite connections get foreign keys on (so deletes cascade), WAL journaling (so `ask` reads
while a sync writes) and a busy timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from agentkit.store.failures import translate_database_errors


def resolve_home(home: str | Path | None) -> Path:
    """The agentkit home folder, created if needed."""
    if home is None:
        home = os.environ.get("AGENTKIT_HOME") or None
    if home is None:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        home = Path(base) / "agentkit"
    path = Path(home).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_database_url(database_url: str | None, home: Path) -> str:
    """The database URL: explicit, from the environment, or SQLite inside the home."""
    url = database_url or os.environ.get("AGENTKIT_DATABASE_URL") or None
    if url is None:
        return f"sqlite:///{home / 'agentkit.db'}"
    if url.startswith("postgres://"):  # the scheme many hosts print; SQLAlchemy wants this one
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str) -> Engine:
    """An engine with the per-dialect settings agentkit relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        translate_database_errors(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    translate_database_errors(engine)  # a full disk or a restarted server: a clear error
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
