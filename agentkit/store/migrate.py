"""Running the Alembic migrations that ship inside the package.

The revisions live in `agentkit/store/migrations/versions` so that `pip install .` carries them;
`agentkit db upgrade` and the first use of a database run them.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Engine

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
    """Upgrade to head unless the database is already there (cheap check first)."""
    if current_revision(engine) != head_revision(engine):
        upgrade(engine)
