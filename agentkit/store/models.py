"""SQLAlchemy 2.0 models: agents, sources, documents, chunks, conversations, messages, the
owner's question log, feedback and curated answers.

These are plain typed tables, no business logic. The schema is owned by the Alembic
revisions in `agentkit/store/migrations/versions`; a test checks that they agree.

Chunk vectors are stored here too (`Chunk.embedding`, float32 bytes). That makes the FAISS
file a cache that can be rebuilt from SQL alone, without re-embedding, which is how a crash
between the SQL commit and the index write is repaired exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC: what every timestamp agentkit writes is in."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class AgentRow(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    embedder_id: Mapped[str] = mapped_column(String(500))
    model: Mapped[str] = mapped_column(String(1000))
    generation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    chunking: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    top_k: Mapped[int] = mapped_column(Integer, default=5)
    grounding: Mapped[str] = mapped_column(String(20), default="balanced")
    abstention_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Persona: shown when a chat opens; `style` (concise | friendly | formal) and
    # `answer_length` (short | medium | long) map to instructions in the system prompt.
    greeting: Mapped[str | None] = mapped_column(Text, nullable=True)
    style: Mapped[str] = mapped_column(String(20), default="concise")
    answer_length: Mapped[str] = mapped_column(String(20), default="medium")
    # Question log retention: "forever", "off" or a number of days such as "30d".
    keep_log: Mapped[str] = mapped_column(String(20), default="forever")
    # Names the agent's index folder; unique across databases that share one home.
    index_key: Mapped[str] = mapped_column(String(64), unique=True)
    # Bumped in the same transaction as every change to the agent's chunks.
    index_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utc_now, onupdate=utc_now
    )

    sources: Mapped[list[SourceRow]] = relationship(
        back_populates="agent", cascade="all, delete-orphan", passive_deletes=True
    )


class SourceRow(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("agent_id", "kind", "uri", name="uq_sources_agent_uri"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    uri: Mapped[str] = mapped_column(String(2000))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    refresh_interval_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    agent: Mapped[AgentRow] = relationship(back_populates="sources")
    documents: Mapped[list[DocumentRow]] = relationship(
        back_populates="source", cascade="all, delete-orphan", passive_deletes=True
    )


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("source_id", "uri", name="uq_documents_source_uri"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), index=True
    )
    uri: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)

    source: Mapped[SourceRow] = relationship(back_populates="documents")
    chunks: Mapped[list[ChunkRow]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True
    )


class ChunkRow(Base):
    __tablename__ = "chunks"
    # AUTOINCREMENT on SQLite: a chunk id (also its FAISS id) is never reused.
    __table_args__ = (Index("ix_chunks_document_id", "document_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    heading_path: Mapped[list[Any]] = mapped_column(JSON, default=list)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    anchor: Mapped[str | None] = mapped_column(String(500), nullable=True)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)

    document: Mapped[DocumentRow] = relationship(back_populates="chunks")


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    messages: Mapped[list[MessageRow]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MessageRow.id",
    )


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    abstained: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    conversation: Mapped[ConversationRow] = relationship(back_populates="messages")


class ApiKeyRow(Base):
    """An HTTP API key: only the SHA-256 of the secret is stored; `key_id` is its public part."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(20))
    # A key bound to an agent works for that agent only and goes when the agent goes.
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), nullable=True, index=True
    )
    origins: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rate_limit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ApiConversationRow(Base):
    """Which API key started a conversation: only that key (or an admin key) may continue or read it."""

    __tablename__ = "api_conversations"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)


class QuestionLogRow(Base):
    """One question asked of an agent, from any channel, with what it answered (the owner's log).

    Written only when the agent's `keep_log` is not "off"; purged past its retention on every
    write. `message_id` links the answer's message when the question was part of a stored
    conversation (feedback from the widget and the API names that message).
    """

    __tablename__ = "question_log"
    __table_args__ = (Index("ix_question_log_agent_asked", "agent_id", "asked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # cli | python | chat | server | openai | widget
    channel: Mapped[str] = mapped_column(String(20))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True, index=True
    )
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    abstained: Mapped[bool] = mapped_column(default=False)
    citations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The grounding step's decision as `AnswerTrace.decision()` words it, or "curated answer".
    decision: Mapped[str] = mapped_column(String(200), default="")
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    curated_answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("curated_answers.id", ondelete="SET NULL"), nullable=True
    )


class FeedbackRow(Base):
    """A thumbs up (+1) or down (-1) on an answer, with an optional comment."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    log_id: Mapped[int | None] = mapped_column(
        ForeignKey("question_log.id", ondelete="CASCADE"), nullable=True, index=True
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(20), default="")
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class CuratedAnswerRow(Base):
    """An answer the owner wrote: a question meaning the same gets this text, without the model.

    `version` counts revisions; every add, revision and removal is also a row of
    `curated_answer_versions` (who and when). A removed answer keeps its row with `removed_at`
    set, so its history stays readable.
    """

    __tablename__ = "curated_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The question's embedding (float32 bytes) and the embedder that made it.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    embedder_id: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CuratedAnswerVersionRow(Base):
    """One change to a curated answer: what it said after the change, who made it, when."""

    __tablename__ = "curated_answer_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    curated_answer_id: Mapped[int] = mapped_column(
        ForeignKey("curated_answers.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))  # add | revise | remove
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    changed_by: Mapped[str] = mapped_column(String(200), default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
