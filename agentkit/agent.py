"""Agent: one named chatbot; add and sync its sources, search them, ask, stream, chat.

An `Agent` is a handle on an agent row. It holds no state that SQL does not hold, except
caches (the loaded index, the models), so several handles and processes can share an agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from agentkit.answering import AnsweringSettings, AnswerStream, answer_stream
from agentkit.generation import ChatMessage, GenerationSettings
from agentkit.ingest import SourceSpec, SourceSyncReport, SyncReport, sync_source
from agentkit.locking import agent_write_lock
from agentkit.prompting import DEFAULT_SYSTEM_PROMPT
from agentkit.results import Answer, SearchHit
from agentkit.retrieval import Retriever
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow
from connectors import ConnectorError, detect_kind

if TYPE_CHECKING:
    from agentkit.conversation import Conversation
    from agentkit.index_store import AgentIndexFiles
    from agentkit.kit import AgentKit

WRITE_LOCK_TIMEOUT_S = 10.0


class SourceNotFoundError(Exception):
    """No source with that id belongs to the agent."""


@dataclass(frozen=True)
class SourceInfo:
    """A source as `agentkit sources` shows it."""

    id: int
    kind: str
    uri: str
    status: str
    documents: int
    chunks: int
    error: str | None
    last_synced_at: datetime | None
    options: dict[str, Any]
    refresh_interval_s: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "uri": self.uri,
            "status": self.status,
            "documents": self.documents,
            "chunks": self.chunks,
            "error": self.error,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "options": self.options,
            "refresh_interval_s": self.refresh_interval_s,
        }


class Agent:
    """A named chatbot with its instructions, model settings and sources."""

    def __init__(self, kit: AgentKit, row: AgentRow) -> None:
        self._kit = kit
        self.id = row.id
        self.name = row.name
        self.description = row.description
        self.system_prompt = row.system_prompt or DEFAULT_SYSTEM_PROMPT
        self.embedder_id = row.embedder_id
        self.model = row.model
        self.top_k = row.top_k
        self.grounding = row.grounding
        self.abstention_message = row.abstention_message
        self.generation = GenerationSettings(**row.generation)
        self.chunking = dict(row.chunking)
        self.index_key = row.index_key
        self.created_at = row.created_at
        self._retriever: Retriever | None = None

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"

    # ----- sources -------------------------------------------------------------------------

    def add_source(
        self,
        location: str,
        *,
        options: Mapping[str, Any] | None = None,
        kind: str | None = None,
        refresh_interval_s: int | None = None,
        progress: bool = False,
    ) -> SourceSyncReport:
        """Register a source and ingest it; adding a source that exists syncs it instead.

        `options` are the connector's options (see each connector's `from_options`).
        If a new source cannot be read at all, nothing is stored and the report's `error` says why.
        """
        options = dict(options or {})
        location = normalize_location(location)
        kind = kind or detect_kind(location, options)
        with self._kit.sessions() as session:
            existing = session.scalar(
                select(SourceRow).where(
                    SourceRow.agent_id == self.id, SourceRow.kind == kind, SourceRow.uri == location
                )
            )
            if existing is not None and (
                existing.options != options
                or (refresh_interval_s is not None and existing.refresh_interval_s != refresh_interval_s)
            ):
                with session.begin():
                    existing.options = options
                    if refresh_interval_s is not None:
                        existing.refresh_interval_s = refresh_interval_s
            source_id = existing.id if existing is not None else None
        spec = SourceSpec(kind, location, options, source_id, refresh_interval_s)
        return self._sync_specs([spec], progress=progress).sources[0]

    def sources(self) -> list[SourceInfo]:
        with self._kit.sessions() as session:
            rows = session.scalars(
                select(SourceRow).where(SourceRow.agent_id == self.id).order_by(SourceRow.id)
            ).all()
            infos = []
            for row in rows:
                documents, chunks = _source_counts(session, row.id)
                infos.append(
                    SourceInfo(
                        id=row.id,
                        kind=row.kind,
                        uri=row.uri,
                        status=row.status,
                        documents=documents,
                        chunks=chunks,
                        error=row.last_error,
                        last_synced_at=row.last_synced_at,
                        options=dict(row.options or {}),
                        refresh_interval_s=row.refresh_interval_s,
                    )
                )
            return infos

    def sync(self, *, progress: bool = False) -> SyncReport:
        """Re-read every source; unchanged documents embed nothing."""
        specs = [
            SourceSpec(info.kind, info.uri, info.options, info.id, info.refresh_interval_s)
            for info in self.sources()
        ]
        return self._sync_specs(specs, progress=progress)

    def _sync_specs(self, specs: Sequence[SourceSpec], *, progress: bool) -> SyncReport:
        report = SyncReport()
        with agent_write_lock(
            self._kit.lock_path(self.index_key), agent_name=self.name, timeout_s=WRITE_LOCK_TIMEOUT_S
        ):
            index_files = self._index_files()
            embedder = self._kit.embedder(self.embedder_id)
            for spec in specs:
                report.sources.append(
                    sync_source(
                        self._kit.sessions,
                        agent_id=self.id,
                        spec=spec,
                        embedder=embedder,
                        index_files=index_files,
                        progress=progress,
                    )
                )
        return report

    # ----- questions -----------------------------------------------------------------------

    def search(self, query: str, *, k: int | None = None, mode: str = "dense") -> list[SearchHit]:
        """The best chunks for `query`, no generation."""
        retriever = self._get_retriever()
        with self._kit.sessions() as session, session.begin():
            return retriever.search(session, query, k=k or self.top_k, mode=mode)

    def ask(self, question: str) -> Answer:
        """Answer one question (no history)."""
        return self.stream(question).finish()

    def stream(self, question: str) -> AnswerStream:
        """Iterate for the reply's text as it is generated; then read `.answer`."""
        return self.answer_stream(question, history=(), search_query=question)

    def answer_stream(
        self, question: str, *, history: Sequence[ChatMessage], search_query: str
    ) -> AnswerStream:
        """The answering pipeline with explicit history and retrieval query (used by chat)."""
        return answer_stream(
            question=question,
            search_query=search_query,
            history=history,
            search=lambda query, k: self.search(query, k=k),
            load_generator=lambda: self._kit.generator(self.model, self.generation),
            settings=AnsweringSettings(
                system_prompt=self.system_prompt,
                top_k=self.top_k,
                grounding=self.grounding,
                abstention_message=self.abstention_message,
                generation=self.generation,
            ),
        )

    def chat(self, *, conversation_id: int | None = None) -> Conversation:
        """A conversation whose `ask` keeps history in SQL and uses it for follow-ups."""
        from agentkit.conversation import Conversation

        return Conversation(self._kit, self, conversation_id=conversation_id)

    # ----- figures -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Number of sources, documents and chunks."""
        with self._kit.sessions() as session:
            sources = session.scalar(
                select(func.count()).select_from(SourceRow).where(SourceRow.agent_id == self.id)
            )
            documents = session.scalar(
                select(func.count())
                .select_from(DocumentRow)
                .join(SourceRow, DocumentRow.source_id == SourceRow.id)
                .where(SourceRow.agent_id == self.id)
            )
            chunks = session.scalar(
                select(func.count())
                .select_from(ChunkRow)
                .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
                .join(SourceRow, DocumentRow.source_id == SourceRow.id)
                .where(SourceRow.agent_id == self.id)
            )
        return {"sources": int(sources or 0), "documents": int(documents or 0), "chunks": int(chunks or 0)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "system_prompt": self.system_prompt,
            "embedder": self.embedder_id,
            "model": self.model,
            "top_k": self.top_k,
            "grounding": self.grounding,
            "abstention_message": self.abstention_message,
            "generation": dict(self.generation.__dict__),
            "chunking": self.chunking,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            **self.counts(),
        }

    # ----- internals -----------------------------------------------------------------------

    def _index_files(self) -> AgentIndexFiles:
        from agentkit.index_store import AgentIndexFiles

        embedder = self._kit.embedder(self.embedder_id)
        return AgentIndexFiles(
            self._kit.index_folder(self.index_key),
            agent_name=self.name,
            embedder_id=embedder.embedder_id,
            dimension=embedder.dimension,
        )

    def _get_retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(
                agent_id=self.id,
                embedder=self._kit.embedder(self.embedder_id),
                index_files=self._index_files(),
            )
        return self._retriever


def normalize_location(location: str) -> str:
    """URLs stay as typed; local paths become absolute, so one folder is one source."""
    if "://" in location:
        return location
    path = Path(location).expanduser()
    if not path.exists():
        raise ConnectorError(f"{location} does not exist; check the path")
    return str(path.resolve())


def _source_counts(session: Any, source_id: int) -> tuple[int, int]:
    documents = session.scalar(
        select(func.count()).select_from(DocumentRow).where(DocumentRow.source_id == source_id)
    )
    chunks = session.scalar(
        select(func.count())
        .select_from(ChunkRow)
        .join(DocumentRow, ChunkRow.document_id == DocumentRow.id)
        .where(DocumentRow.source_id == source_id)
    )
    return int(documents or 0), int(chunks or 0)
