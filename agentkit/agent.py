"""Agent: one named chatbot; add and sync its sources, search them, ask, stream, chat.

An `Agent` is a handle on an agent row. It holds no state that SQL does not hold, except
caches (the loaded index, the models), so several handles and processes can share an agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from agentkit.answering import persona
from agentkit.answering.answerability import shipped_model
from agentkit.answering.pipeline import AnsweringSettings, AnswerStream, answer_stream
from agentkit.answering.prompting import DEFAULT_SYSTEM_PROMPT
from agentkit.conversation import Conversation
from agentkit.errors import DatabaseUnavailableError, SourceNotFoundError
from agentkit.evaluation import evaluate, read_qa_file
from agentkit.improve import feedback as feedback_store
from agentkit.improve import log as log_store
from agentkit.improve.curated import CuratedAnswers
from agentkit.improve.settings import AgentSettingChanges, store_changes
from agentkit.improve.stats import Stats, compute_stats
from agentkit.index.maintenance import bring_index_up_to_date, diagnose, reindex_agent
from agentkit.index.stores import open_agent_index, writer_lock
from agentkit.ingest.pipeline import (
    SourceSpec,
    SourceSyncReport,
    SyncReport,
    remove_source,
    sync_source,
)
from agentkit.ingest.sources import SourceInfo, list_sources, normalize_location
from agentkit.models.generators import ChatMessage, GenerationSettings
from agentkit.results import Answer, SearchHit
from agentkit.retrieval.retriever import Retriever
from agentkit.store.models import AgentRow, ChunkRow, DocumentRow, SourceRow
from connectors import connector_class, detect_kind
from connectors.records import (
    RecordPush,
    documents_from_records,
    pushed_records_location,
    pushing,
    record_uri,
)

if TYPE_CHECKING:
    from agentkit.conversation import Conversation
    from agentkit.evaluation import EvaluationItem, EvaluationReport, QuestionResult
    from agentkit.index.agent_index import AgentIndex
    from agentkit.index.maintenance import DoctorReport, ReindexReport
    from agentkit.kit import AgentKit
    from agentkit.models.embedders import Embedder


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
        self.greeting = row.greeting
        self.style = row.style or persona.DEFAULT_STYLE
        self.answer_length = row.answer_length or persona.DEFAULT_ANSWER_LENGTH
        self.keep_log = row.keep_log or log_store.RETENTION_FOREVER
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
        Options the kind does not declare, or of the wrong type, raise `ConnectorError` before
        anything is stored (a source that exists keeps the options it had).
        """
        options = dict(options or {})
        location = normalize_location(location)
        kind = kind or detect_kind(location, options)
        connector_class(kind).check_options(location, options)
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
                existing.options = options  # the select above began the transaction
                if refresh_interval_s is not None:
                    existing.refresh_interval_s = refresh_interval_s
                session.commit()
            source_id = existing.id if existing is not None else None
        spec = SourceSpec(kind, location, options, source_id, refresh_interval_s)
        return self._sync_specs([spec], progress=progress).sources[0]

    def sources(self) -> list[SourceInfo]:
        """The agent's sources with their counts, freshness and last error."""
        with self._kit.sessions() as session:
            return list_sources(session, self.id)

    def sync(self, *, due_only: bool = False, progress: bool = False) -> SyncReport:
        """Re-read every source (with `due_only`, those past their refresh interval).

        Unchanged documents embed nothing; changed ones are re-chunked and re-embedded;
        vanished ones leave SQL and the index. An index left behind by a killed writer is
        brought up to date first.
        """

        def listed() -> list[SourceSpec]:  # read under the lock: another writer may have changed them
            return [
                SourceSpec(info.kind, info.uri, info.options, info.id, info.refresh_interval_s)
                for info in self.sources()
                if info.due or not due_only
            ]

        if due_only and not any(info.due for info in self.sources()):
            return SyncReport()  # nothing to do: do not wait for, or block, another writer
        return self._sync_specs(listed, progress=progress)

    def remove_source(self, source_id: int) -> SourceSyncReport:
        """Remove a source with all its documents and their vectors (one SQL transaction)."""

        with self._write_lock():
            index_files = self._index_files()
            bring_index_up_to_date(self._kit.sessions, agent_id=self.id, index_files=index_files)
            report = remove_source(
                self._kit.sessions, agent_id=self.id, source_id=source_id, index_files=index_files
            )
        if report is None:
            raise SourceNotFoundError(
                f"agent {self.name!r} has no source {source_id}; `agentkit sources {self.name}` "
                "lists its sources with their ids"
            )
        return report

    def upsert_records(
        self,
        records: Iterable[Mapping[str, object]],
        *,
        text_field: str = "text",
        title_field: str | None = None,
        id_field: str = "id",
        metadata_fields: Sequence[str] = (),
        source: str = "records",
    ) -> SourceSyncReport:
        """Add or replace records pushed by a program, one document per record.

        Records are mappings (a JSON object, a database row as a dict); `id_field` names their
        stable id: a record whose id was pushed before replaces that document (re-embedded only
        if its content changed), other stored records stay. They live in the source
        `records://<source>`; hits and citations carry `record_id`. A record without text or
        id is left out and listed in the report's `failed`.
        """

        location = pushed_records_location(source)
        options: dict[str, Any] = {"text_field": text_field, "id_field": id_field}
        if title_field:
            options["title_field"] = title_field
        if metadata_fields:
            options["metadata_fields"] = list(metadata_fields)
        items = documents_from_records(
            records,
            source_name=location,
            text_field=text_field,
            title_field=title_field,
            id_field=id_field,
            metadata_fields=tuple(metadata_fields),
        )
        with pushing(location, RecordPush(items=tuple(items))):
            return self.add_source(location, options=options, kind="records")

    def delete_records(self, ids: Iterable[str | int], *, source: str = "records") -> SourceSyncReport:
        """Remove pushed records by id (ids that are not stored are ignored)."""

        location = pushed_records_location(source)
        stored = [info for info in self.sources() if info.kind == "records" and info.uri == location]
        if not stored:
            raise SourceNotFoundError(
                f"agent {self.name!r} has no pushed records source {source!r}; push records "
                "with upsert_records first"
            )
        deleted = frozenset(record_uri(location, str(record_id).strip()) for record_id in ids)
        spec = SourceSpec("records", location, stored[0].options, stored[0].id, stored[0].refresh_interval_s)
        with pushing(location, RecordPush(deleted_uris=deleted)):
            return self._sync_specs([spec], progress=False).sources[0]

    def _sync_specs(
        self, specs: Sequence[SourceSpec] | Callable[[], Sequence[SourceSpec]], *, progress: bool
    ) -> SyncReport:
        report = SyncReport()
        embedder = self._kit.embedder(self.embedder_id)  # loading a model can take seconds: before the lock
        index_files = self._index_files()
        with self._write_lock():
            bring_index_up_to_date(self._kit.sessions, agent_id=self.id, index_files=index_files)
            if callable(specs):
                specs = specs()
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

    def search(self, query: str, *, k: int | None = None, mode: str = "hybrid") -> list[SearchHit]:
        """The best chunks for `query`, no generation.

        `mode` is "hybrid" (dense and BM25 rankings fused; the default), "dense" or "lexical".
        Each hit carries the score its ranking used and its dense and lexical scores.
        """
        retriever = self._get_retriever()
        try:
            with self._kit.sessions() as session, session.begin():
                return retriever.search(session, query, k=k or self.top_k, mode=mode)
        except DatabaseUnavailableError:
            pass  # the server dropped the connection (a restart): a read is safe to run once more
        with self._kit.sessions() as session, session.begin():
            return retriever.search(session, query, k=k or self.top_k, mode=mode)

    def ask(self, question: str, *, channel: str = "python") -> Answer:
        """Answer one question (no history); it goes into the question log under `channel`."""
        return self.stream(question, channel=channel).finish()

    def stream(self, question: str, *, channel: str = "python") -> log_store.LoggedStream:
        """Iterate for the reply's text as it is generated; then read `.answer` (and `.log_id`)."""
        inner = self.answer_stream(question, history=(), search_query=question)
        return self.question_log.logged(inner, question=question, channel=channel)

    def answer_stream(
        self, question: str, *, history: Sequence[ChatMessage], search_query: str
    ) -> AnswerStream:
        """The answering pipeline with explicit history and retrieval query (used by chat).

        Nothing is logged: the channels wrap it with `question_log.logged`.
        """
        return answer_stream(
            question=question,
            search_query=search_query,
            history=history,
            search=lambda query, k: self.search(query, k=k),
            load_generator=lambda: self._kit.generator(self.model, self.generation),
            embed=self._kit.embedder(self.embedder_id).embed,
            curated=self.curated.match,
            settings=AnsweringSettings(
                system_prompt=persona.system_prompt_with_persona(
                    self.system_prompt, self.style, self.answer_length
                ),
                top_k=self.top_k,
                grounding=self.grounding,
                abstention_message=self.abstention_message,
                generation=persona.generation_with_persona(self.generation, self.answer_length),
                answerability=shipped_model(self.embedder_id),
            ),
        )

    @property
    def curated(self) -> CuratedAnswers:
        """The owner's curated answers: add, list, revise, remove, import_csv, export_csv."""
        return CuratedAnswers(
            self._kit.sessions,
            agent_id=self.id,
            agent_name=self.name,
            embedder=lambda: self._kit.embedder(self.embedder_id),
        )

    def chat(self, *, conversation_id: int | None = None, channel: str = "python") -> Conversation:
        """A conversation whose `ask` keeps history in SQL and uses it for follow-ups.

        Its questions go into the question log under `channel` ("chat" for `agentkit chat`).
        """

        return Conversation(self._kit, self, conversation_id=conversation_id, channel=channel)

    # ----- the owner's loop ----------------------------------------------------------------

    @property
    def question_log(self) -> log_store.AgentQuestionLog:
        """The agent's question log: channels wrap their answer streams with its `logged`."""
        return log_store.AgentQuestionLog(self._kit.sessions, self.id)

    def log(
        self,
        *,
        since: datetime | str | None = None,
        unanswered: bool = False,
        channel: str | None = None,
        limit: int | None = None,
    ) -> list[log_store.LogEntry]:
        """The logged questions, newest first, with their feedback.

        `since` is a moment or a span such as "7d"; `unanswered` keeps abstentions only.
        """
        return self.question_log.entries(since=since, unanswered=unanswered, channel=channel, limit=limit)

    def purge_log(self, *, everything: bool = False) -> int:
        """Remove the logged questions older than the agent's retention (with `everything`,
        all of them); how many went."""
        return self.question_log.purge(everything=everything)

    def feedback(
        self,
        *,
        log_id: int | None = None,
        message_id: int | None = None,
        rating: int,
        comment: str = "",
        channel: str = "python",
    ) -> int:
        """Rate an answer +1 (up) or -1 (down), named by its log id or its message id; the feedback id."""
        with self._kit.sessions() as session, session.begin():
            target = feedback_store.find_target(
                session, log_id=log_id, message_id=message_id, agent_id=self.id
            )
            return feedback_store.record_feedback(
                session, target, rating=rating, comment=comment, channel=channel
            )

    def set(
        self,
        *,
        keep_log: str | None = None,
        greeting: str | None = None,
        style: str | None = None,
        answer_length: str | None = None,
        abstention_message: str | None = None,
        grounding: str | None = None,
        system_prompt: str | None = None,
    ) -> None:
        """Change the agent's persona, retention and answering settings (None: unchanged).

        An empty greeting, abstention message or system prompt goes back to none / the default.
        Every channel uses the new values from its next question.
        """
        changes = AgentSettingChanges(
            keep_log=keep_log,
            greeting=greeting,
            style=style,
            answer_length=answer_length,
            abstention_message=abstention_message,
            grounding=grounding,
            system_prompt=system_prompt,
        )
        for name, value in store_changes(self._kit.sessions, self.id, self.name, changes).items():
            setattr(self, name, value)
        if system_prompt is not None:
            self.system_prompt = self.system_prompt or DEFAULT_SYSTEM_PROMPT

    def evaluate(
        self,
        qa_file: str | Path | Sequence[EvaluationItem],
        *,
        report_path: str | Path | None = None,
        progress: Callable[[int, int, QuestionResult], None] | None = None,
    ) -> EvaluationReport:
        """Ask every question of a QA jsonl file (or items) and measure the answers.

        The retrieval hit rate uses the sources each question actually retrieved. With
        `report_path`, one JSON line per question is written there.
        """

        items = read_qa_file(Path(qa_file)) if isinstance(qa_file, (str, Path)) else list(qa_file)
        retrieved: dict[str, list[SearchHit]] = {}
        decisions: dict[str, str] = {}

        def ask(question: str) -> Answer:
            stream = self.answer_stream(question, history=(), search_query=question)  # not logged
            answer = stream.finish()
            retrieved[question] = stream.trace.hits
            decisions[question] = stream.trace.decision()
            return answer

        return evaluate(
            ask,
            items,
            retrieve=lambda question: retrieved.get(question, []),
            explain=decisions.get,
            report_path=Path(report_path) if report_path is not None else None,
            label=f"{self.name} (grounding: {self.grounding})",
            progress=progress,
        )

    # ----- figures -------------------------------------------------------------------------

    def stats(self, *, since: datetime | str | None = "30d", gaps: bool = True) -> Stats:
        """Figures of the question log since a moment or a span such as "30d" (None: all of it),
        with the unanswered questions grouped into topics (`gaps`, made with the agent's embedder)."""
        if isinstance(since, str):
            since = log_store.parse_since(since)
        embed = (lambda texts: self._kit.embedder(self.embedder_id).embed(texts)) if gaps else None
        with self._kit.sessions() as session:
            return compute_stats(session, agent_id=self.id, agent_name=self.name, since=since, embed=embed)

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

    # ----- maintenance ---------------------------------------------------------------------

    def doctor(self) -> DoctorReport:
        """Check that the index holds exactly one vector per chunk and matches the agent."""

        with self._write_lock():
            return diagnose(
                self._kit.sessions,
                agent_id=self.id,
                folder=self._kit.index_folder(self.index_key),
                load_embedder=self._kit.embedder,
                index=self._index_files(),
            )

    def reindex(self, *, embedder: str | None = None, progress: bool = False) -> ReindexReport:
        """Embed every chunk again from its text in SQL and rebuild the index.

        With `embedder`, the agent switches to that embedder ('default', 'hashing-N' or a
        sentence-transformers model folder); the switch and the new vectors commit together.
        """

        embedder_id = embedder or self.embedder_id
        model = self._kit.embedder(embedder_id)  # load (and check) it before taking the lock
        with self._write_lock():
            report = reindex_agent(
                self._kit.sessions,
                agent_id=self.id,
                embedder_id=embedder_id,
                embedder=model,
                index_files=self._index_files(model),
                progress=progress,
            )
        self.embedder_id = embedder_id
        self._retriever = None
        return report

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
            "greeting": self.greeting,
            "style": self.style,
            "answer_length": self.answer_length,
            "keep_log": self.keep_log,
            "generation": dict(self.generation.__dict__),
            "chunking": self.chunking,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            **self.counts(),
        }

    # ----- internals -----------------------------------------------------------------------

    def _write_lock(self) -> AbstractContextManager[None]:
        """The agent's writer lock (see `agentkit.index.stores.writer_lock`)."""
        return writer_lock(
            self._kit.sessions,
            agent_id=self.id,
            agent_name=self.name,
            lock_path=self._kit.lock_path(self.index_key),
        )

    def _index_files(self, embedder: Embedder | None = None, backend: str | None = None) -> AgentIndex:
        """The agent's index (files or pgvector, see `agentkit.index.stores`); `backend`
        names it when known, else the database's record decides."""
        embedder = embedder or self._kit.embedder(self.embedder_id)
        return open_agent_index(
            self._kit.sessions,
            agent_id=self.id,
            agent_name=self.name,
            folder=self._kit.index_folder(self.index_key),
            embedder_id=embedder.embedder_id,
            dimension=embedder.dimension,
            backend=backend,
        )

    def _get_retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(
                agent_id=self.id,
                embedder=self._kit.embedder(self.embedder_id),
                index_files=self._index_files(),
                reopen=lambda backend: self._index_files(backend=backend),
            )
        return self._retriever
