"""AgentKit: opens the store and creates, gets, lists and deletes agents.

It also owns what agents share inside one process: the SQL engine, the home folder layout
(index folders, lock files) and the loaded models, so that asking twice does not load the
embedder or the GGUF twice.
"""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agentkit.agent import Agent
from agentkit.answering.grounding import DEFAULT_GROUNDING_MODE, GROUNDING_MODES
from agentkit.errors import (
    AgentBusyError,
    AgentExistsError,
    AgentNotFoundError,
    EmbedderError,
    IndexNeedsRepairError,
    InvalidSettingError,
)
from agentkit.index.pg_schema import drop_agent_tables
from agentkit.index.stores import writer_lock
from agentkit.ingest.chunking import ChunkingSettings
from agentkit.ingest.pipeline import SyncReport
from agentkit.models.embedders import DEFAULT_EMBEDDER_ID, Embedder
from agentkit.models.generators import DEFAULT_MODEL, GenerationSettings, Generator
from agentkit.models.registry import (
    load_embedder,
    load_generator,
    normalize_embedder_spec,
    normalize_generator_spec,
)
from agentkit.store import (
    AgentRow,
    ensure_schema,
    make_engine,
    make_session_factory,
    resolve_database_url,
    resolve_home,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class AgentKit:
    """The entry point of the Python API.

    `embedder` and `generator` replace the models every agent would load (tests pass fakes;
    an application can share one loaded model between kits).
    """

    def __init__(
        self,
        home: str | Path | None = None,
        database_url: str | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        migrate: bool = True,
    ) -> None:
        self.home = resolve_home(home)
        self.database_url = resolve_database_url(database_url, self.home)
        self.engine = make_engine(self.database_url)
        if migrate:
            ensure_schema(self.engine)
        self.sessions = make_session_factory(self.engine)
        self._embedder_override = embedder
        self._generator_override = generator
        self._embedders: dict[str, Embedder] = {}
        self._generators: dict[tuple[str, int, int, float, str | None, float], Generator] = {}

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> AgentKit:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----- agents --------------------------------------------------------------------------

    def create_agent(
        self,
        name: str,
        *,
        description: str = "",
        system_prompt: str | None = None,
        model: str = DEFAULT_MODEL,
        embedder: str = DEFAULT_EMBEDDER_ID,
        top_k: int = 5,
        grounding: str = DEFAULT_GROUNDING_MODE,
        abstention_message: str | None = None,
        generation: GenerationSettings | None = None,
        chunking: ChunkingSettings | None = None,
    ) -> Agent:
        """Create an agent; its name must be unique."""

        if not _NAME.match(name):
            raise InvalidSettingError(
                f"invalid agent name {name!r}: use letters, digits, '.', '_' or '-' (at most 100)"
            )
        if not 1 <= top_k <= 50:
            raise InvalidSettingError("top-k must be between 1 and 50")
        if grounding not in GROUNDING_MODES:
            raise InvalidSettingError(f"grounding must be one of {', '.join(GROUNDING_MODES)}")
        model = normalize_generator_spec(model, home=self.home)
        embedder = normalize_embedder_spec(embedder)  # an unknown kind is refused before anything is stored
        row = AgentRow(
            name=name,
            description=description,
            system_prompt=system_prompt or "",
            embedder_id=embedder,
            model=model,
            generation=asdict(generation or GenerationSettings()),
            chunking=asdict(chunking or ChunkingSettings()),
            top_k=top_k,
            grounding=grounding,
            abstention_message=abstention_message,
            index_key=uuid.uuid4().hex,
            index_version=0,
        )
        with self.sessions() as session:
            if session.scalar(select(AgentRow.id).where(AgentRow.name == name)) is not None:
                raise AgentExistsError(f"an agent named {name!r} exists already; pick another name")
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                raise AgentExistsError(
                    f"an agent named {name!r} exists already; pick another name"
                ) from None
            return Agent(self, row)

    def get_agent(self, name: str) -> Agent:
        with self.sessions() as session:
            row = session.scalar(select(AgentRow).where(AgentRow.name == name))
            if row is None:
                raise AgentNotFoundError(
                    f"no agent named {name!r}; `agentkit list` shows the agents there are"
                )
            return Agent(self, row)

    def list_agents(self) -> list[Agent]:
        with self.sessions() as session:
            rows = session.scalars(select(AgentRow).order_by(AgentRow.name)).all()
            return [Agent(self, row) for row in rows]

    def delete_agent(self, name: str) -> None:
        """Delete the agent's rows (sources, documents, chunks, conversations) and index files."""
        agent = self.get_agent(name)

        with writer_lock(
            self.sessions, agent_id=agent.id, agent_name=name, lock_path=self.lock_path(agent.index_key)
        ):
            with self.sessions() as session, session.begin():
                drop_agent_tables(session, agent.id)  # its pgvector table, if it has one
                row = session.get(AgentRow, agent.id)
                if row is not None:
                    session.delete(row)
            shutil.rmtree(self.index_folder(agent.index_key), ignore_errors=True)
        self.lock_path(agent.index_key).unlink(missing_ok=True)

    def sync_all(self, *, due_only: bool = False, progress: bool = False) -> dict[str, SyncReport]:
        """Sync every agent (with `due_only`, only sources past their refresh interval).

        An agent that cannot be synced (another process is writing to it, its index needs a
        reindex) does not stop the others: its report's `error` says why.
        """

        reports: dict[str, SyncReport] = {}
        for agent in self.list_agents():
            try:
                reports[agent.name] = agent.sync(due_only=due_only, progress=progress)
            except (AgentBusyError, IndexNeedsRepairError, EmbedderError) as error:
                reports[agent.name] = SyncReport(error=str(error))
        return reports

    # ----- shared resources ----------------------------------------------------------------

    def index_folder(self, index_key: str) -> Path:
        return self.home / "indexes" / index_key

    def lock_path(self, index_key: str) -> Path:
        return self.home / "locks" / f"{index_key}.lock"

    def embedder(self, embedder_id: str) -> Embedder:
        if self._embedder_override is not None:
            return self._embedder_override
        if embedder_id not in self._embedders:
            self._embedders[embedder_id] = load_embedder(embedder_id)
        return self._embedders[embedder_id]

    def generator(self, model: str, settings: GenerationSettings) -> Generator:
        if self._generator_override is not None:
            return self._generator_override
        # Everything that shapes the loaded generator (a remote one's key variable and timeout
        # too), nothing per request (temperature, answer length).
        key = (
            model,
            settings.context_window,
            settings.seed,
            settings.repeat_penalty,
            settings.api_key_env,
            settings.request_timeout_s,
        )
        if key not in self._generators:
            self._generators[key] = load_generator(model, settings)
        return self._generators[key]
