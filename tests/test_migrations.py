"""Migrations: a blank database upgraded to head has exactly the tables and columns of the models."""

from __future__ import annotations

from sqlalchemy import inspect

from agentkit.store import Base, make_engine, upgrade
from agentkit.store.migrate import current_revision, ensure_schema, head_revision

EXPECTED_TABLES = {"agents", "sources", "documents", "chunks", "conversations", "messages", "api_keys",
                   "question_log", "feedback", "curated_answers", "curated_answer_versions",
                   "api_conversations", "alembic_version"}

EXPECTED_COLUMNS = {
    "agents": {
        "id", "name", "description", "system_prompt", "embedder_id", "model", "generation",
        "chunking", "top_k", "grounding", "abstention_message", "index_key", "index_version",
        "created_at", "updated_at", "greeting", "style", "answer_length", "keep_log",
    },
    "sources": {
        "id", "agent_id", "kind", "uri", "options", "status", "last_error", "last_synced_at",
        "refresh_interval_s", "created_at",
    },
    "documents": {"id", "source_id", "uri", "title", "content_hash", "fetched_at", "metadata"},
    "chunks": {
        "id", "document_id", "ordinal", "text", "heading_path", "page", "anchor", "char_start",
        "char_end", "embedding",
    },
    "conversations": {"id", "agent_id", "title", "created_at"},
    "messages": {"id", "conversation_id", "role", "content", "citations", "abstained", "created_at"},
    "api_keys": {
        "id", "key_id", "secret_hash", "scope", "agent_id", "origins", "rate_limit", "expires_at",
        "revoked_at", "created_at",
    },
    "api_conversations": {"conversation_id", "api_key_id"},
    "question_log": {
        "id", "agent_id", "asked_at", "channel", "conversation_id", "message_id", "question",
        "answer", "abstained", "citations", "decision", "latency_ms", "api_key_id",
        "curated_answer_id",
    },
    "feedback": {
        "id", "agent_id", "log_id", "message_id", "rating", "comment", "channel", "api_key_id",
        "created_at",
    },
    "curated_answers": {
        "id", "agent_id", "question", "answer", "source", "version", "embedding", "embedder_id",
        "created_by", "created_at", "updated_by", "updated_at", "removed_at",
    },
    "curated_answer_versions": {
        "id", "curated_answer_id", "version", "action", "question", "answer", "source",
        "changed_by", "changed_at",
    },
}


def test_blank_database_upgrades_to_head_with_exact_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == EXPECTED_TABLES
    for table, columns in EXPECTED_COLUMNS.items():
        assert {column["name"] for column in inspector.get_columns(table)} == columns, table
    engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        migrated = {column["name"] for column in inspector.get_columns(table.name)}
        assert migrated == {column.name for column in table.columns}, table.name
    engine.dispose()


def test_ensure_schema_is_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    ensure_schema(engine)
    ensure_schema(engine)
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    from importlib import resources

    versions = resources.files("agentkit.store") / "migrations" / "versions"
    assert any(entry.name.startswith("0001") for entry in versions.iterdir())
    assert (resources.files("agentkit.store") / "migrations" / "env.py").is_file()
