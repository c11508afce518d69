"""Running the Alembic migrations that ship inside the package.

The revisions live in `agentkit/store/migrations/versions` so that `pip install .` carries them;
`agentkit db upgrade` and the first use of a database run them.
"""

from __future__ import annotations

import re
from importlib import resources

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

HEAD = "head"


def _config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    script_location = resources.files("agentkit.store") / "migrations"
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(engine)).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    """Migrate the database to `revision` (the newest by default)."""
    from alembic import command

    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_schema(engine: Engine) -> None:
    """Upgrade to head unless the database is already there (cheap check first).

    The cheapest check reads the stored revision with one SELECT and the packaged head from the
    revision files' `revision =` / `down_revision =` lines, without importing Alembic (a quarter
    of a cold `agentkit ask`'s imports); anything unusual falls back to asking Alembic.
    """
    head = _packaged_head()
    if head is not None and _stored_revision(engine) == head:
        return
    if current_revision(engine) != head_revision(engine):
        upgrade(engine)


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]+)?=\s*(?:[\"']([^\"']+)[\"']|None)\s*$", re.M)


def _packaged_head() -> str | None:
    """The one revision no other revision names as its parent; None if that is not clear-cut."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for file in (resources.files("agentkit.store") / "migrations" / "versions").iterdir():
        if not file.name.endswith(".py") or file.name.startswith("__"):
            continue
        found = dict(_ASSIGNMENT.findall(file.read_text(encoding="utf-8")))
        if "revision" not in found or not found["revision"]:
            return None
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return None  # no version table yet: a new database
    return str(rows[0][0]) if len(rows) == 1 else None
