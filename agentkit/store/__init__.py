"""The SQL store: typed models, the engine and sessions, and schema migrations."""

from agentkit.store.database import make_engine, make_session_factory, resolve_database_url, resolve_home
from agentkit.store.migrate import ensure_schema, upgrade
from agentkit.store.models import (
    AgentRow,
    Base,
    ChunkRow,
    ConversationRow,
    DocumentRow,
    MessageRow,
    SourceRow,
)

__all__ = [
    "AgentRow",
    "Base",
    "ChunkRow",
    "ConversationRow",
    "DocumentRow",
    "MessageRow",
    "SourceRow",
    "ensure_schema",
    "make_engine",
    "make_session_factory",
    "resolve_database_url",
    "resolve_home",
    "upgrade",
]
