"""The native JSON API: ask with stored conversations, search, conversations read back,
pushed records (the live-data webhook), and the admin operations of the CLI, same names."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from agentkit.answering.grounding import DEFAULT_GROUNDING_MODE, GROUNDING_MODES
from agentkit.conversation import Conversation
from agentkit.improve.feedback import MAX_COMMENT_CHARS, FeedbackTarget, find_target, record_feedback
from agentkit.kit import AgentKit
from agentkit.models.generators import GenerationSettings
from agentkit.server.access import (
    SCOPES_ADMIN,
    SCOPES_CHAT,
    SCOPES_INGEST,
    SCOPES_SEARCH,
    ApiError,
    authorize,
    server_state,
)
from agentkit.server.answers import answer_in_queue
from agentkit.server.keys import ApiKey
from agentkit.store.models import AgentRow, ApiConversationRow, ConversationRow, MessageRow

router = APIRouter(prefix="/api")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=4000)
    conversation_id: int | None = Field(default=None, description="Continue this conversation.")


class FeedbackIn(Strict):
    message_id: int | None = Field(default=None, ge=1, description="The answer's message (native API).")
    log_id: int | None = Field(default=None, ge=1, description="The answer's question log id (the widget's).")
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)


class RecordIn(Strict):
    id: str | int = Field(description="Stable id: pushing the same id again replaces the record.")
    text: str = Field(min_length=1, max_length=1_000_000)
    title: str | None = Field(default=None, max_length=2000)
    url: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] | None = None


class DeleteRecords(Strict):
    ids: list[str | int] = Field(min_length=1)


class CreateAgent(Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    system_prompt: str | None = None
    model: str = "default"
    embedder: str = "default"
    top_k: int = Field(default=5, ge=1, le=50)
    grounding: str = DEFAULT_GROUNDING_MODE
    abstention_message: str | None = None


class AgentSettings(Strict):
    """What `agentkit set` changes; fields left out stay as they are ("" clears a text)."""

    keep_log: str | None = Field(default=None, max_length=20, description="30d, forever or off")
    greeting: str | None = Field(default=None, max_length=2000)
    style: str | None = Field(default=None, max_length=20, description="concise, friendly or formal")
    answer_length: str | None = Field(default=None, max_length=20, description="short, medium or long")
    abstention_message: str | None = Field(default=None, max_length=2000)
    grounding: str | None = Field(default=None, max_length=20)
    system_prompt: str | None = Field(default=None, max_length=20_000)


class AddSource(Strict):
    location: str = Field(min_length=1, max_length=2000)
    kind: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    refresh_interval_s: int | None = Field(default=None, ge=60)


def _key(scopes: tuple[str, ...]) -> Any:
    """A dependency type: the request's key, checked for `scopes` and the path's agent."""

    def check(request: Request) -> ApiKey:
        return authorize(request, scopes, agent=request.path_params.get("name"))

    return Annotated[ApiKey, Depends(check)]


ChatKey = _key(SCOPES_CHAT)
SearchKey = _key(SCOPES_SEARCH)
IngestKey = _key(SCOPES_INGEST)
AdminKey = _key(SCOPES_ADMIN)


# ----- questions ---------------------------------------------------------------------------


@router.post("/agents/{name}/ask", tags=["questions"])
async def ask(name: str, body: AskRequest, request: Request, key: ChatKey) -> dict[str, Any]:
    """Answer a question; `conversation_id` continues a conversation this key started."""
    state = server_state(request)
    agent = await run_in_threadpool(state.agent, name)
    request.state.agent = agent.name
    if agent.name in state.settings.log_question_agents:
        request.state.question = body.question
    if body.conversation_id is not None:
        await run_in_threadpool(_check_conversation_owner, state.kit, key, body.conversation_id)

    def work() -> dict[str, Any]:
        conversation = Conversation(
            state.kit, agent, conversation_id=body.conversation_id, channel="server", api_key_id=key.id
        )
        if body.conversation_id is None:
            _record_owner(state.kit, key, conversation.id)
        answer = conversation.ask(body.question)
        return {
            **answer.to_dict(),
            "conversation_id": conversation.id,
            "message_id": conversation.last_message_id,  # what POST /api/feedback names
            "log_id": conversation.last_log_id,
        }

    return await answer_in_queue(state, agent, work)


@router.get("/agents/{name}/search", tags=["questions"])
async def search(
    name: str,
    request: Request,
    key: SearchKey,
    q: str = Query(min_length=1, max_length=2000),
    k: int | None = Query(default=None, ge=1, le=50),
    mode: str = Query(default="hybrid", pattern="^(hybrid|dense|lexical)$"),
) -> list[dict[str, Any]]:
    """The chunks that best match `q` (no generation)."""
    state = server_state(request)
    request.state.agent = name

    def run() -> list[dict[str, Any]]:
        return [hit.to_dict() for hit in state.agent(name).search(q, k=k, mode=mode)]

    return await run_in_threadpool(run)


@router.get("/conversations/{conversation_id}", tags=["questions"])
async def read_conversation(conversation_id: int, request: Request) -> dict[str, Any]:
    """A conversation this key started (any, with an admin key), oldest message first."""
    state = server_state(request)
    key = await run_in_threadpool(authorize, request, SCOPES_CHAT)
    return await run_in_threadpool(_conversation, state.kit, key, conversation_id)


# ----- feedback ----------------------------------------------------------------------------


@router.post("/feedback", tags=["questions"], status_code=201)
async def feedback(body: FeedbackIn, request: Request) -> dict[str, Any]:
    """Thumbs up or down on an answer, named by `message_id` or `log_id`, with an optional comment.

    A chat key rates only answers it asked for (in conversations it started); an admin key any
    answer of its agents. Anything else is 404, as if the answer did not exist.
    """
    if body.message_id is None and body.log_id is None:
        raise ApiError(422, "invalid_request_error", "body: give message_id or log_id")
    state = server_state(request)
    key = await run_in_threadpool(authorize, request, SCOPES_CHAT)
    channel = "widget" if request.headers.get("origin") else "server"

    def run() -> dict[str, Any]:
        with state.kit.sessions() as session, session.begin():
            target = find_target(session, log_id=body.log_id, message_id=body.message_id)
            _check_may_rate(session, key, target)
            feedback_id = record_feedback(
                session, target, rating=body.rating, comment=body.comment, channel=channel, api_key_id=key.id
            )
        return {
            "id": feedback_id,
            "log_id": target.log_id,
            "message_id": target.message_id,
            "rating": body.rating,
        }

    return await run_in_threadpool(run)


def _check_may_rate(session: Session, key: ApiKey, target: FeedbackTarget) -> None:
    agent_name = session.scalar(select(AgentRow.name).where(AgentRow.id == target.agent_id))
    missing = ApiError(404, "not_found_error", "no such answer for this key")
    if key.agent is not None and key.agent != agent_name:
        raise missing
    if key.scope == "admin":
        return
    if target.conversation_id is not None:
        owner = session.scalar(
            select(ApiConversationRow.api_key_id).where(
                ApiConversationRow.conversation_id == target.conversation_id
            )
        )
    else:
        owner = target.api_key_id
    if owner != key.id:
        raise missing


# ----- live data ---------------------------------------------------------------------------


@router.post("/agents/{name}/records", tags=["records"])
async def push_records(
    name: str,
    records: list[RecordIn],
    request: Request,
    key: IngestKey,
    source: str = Query(default="records", pattern=r"^[A-Za-z0-9_.-]{1,100}$"),
) -> dict[str, Any]:
    """Add or replace records (one document each, by `id`); returns the sync report."""
    state = server_state(request)
    if len(records) > state.settings.max_records:
        raise ApiError(
            422, "invalid_request_error", f"body: at most {state.settings.max_records} records per request"
        )
    ids = [str(record.id).strip() for record in records]
    if len(set(ids)) != len(ids):
        raise ApiError(422, "invalid_request_error", "body: two records have the same id")
    rows = [
        {
            "id": record_id,
            "text": record.text,
            "title": record.title or f"{source} #{record_id}",
            "url": record.url,
            "metadata": record.metadata,
        }
        for record_id, record in zip(ids, records, strict=True)
    ]
    request.state.agent = name

    def run() -> dict[str, Any]:
        agent = state.agent(name)
        report = agent.upsert_records(
            rows, title_field="title", metadata_fields=("url", "metadata"), source=source
        )
        return dataclasses.asdict(report)

    return await run_in_threadpool(run)


@router.delete("/agents/{name}/records", tags=["records"])
async def delete_records(
    name: str,
    body: DeleteRecords,
    request: Request,
    key: IngestKey,
    source: str = Query(default="records", pattern=r"^[A-Za-z0-9_.-]{1,100}$"),
) -> dict[str, Any]:
    """Remove records by id (ids not stored are ignored); returns the sync report."""
    state = server_state(request)
    if len(body.ids) > state.settings.max_records:
        raise ApiError(
            422, "invalid_request_error", f"ids: at most {state.settings.max_records} ids per request"
        )
    request.state.agent = name
    return await run_in_threadpool(
        lambda: dataclasses.asdict(state.agent(name).delete_records(body.ids, source=source))
    )


# ----- admin -------------------------------------------------------------------------------


@router.get("/agents", tags=["admin"])
async def list_agents(request: Request, key: AdminKey) -> list[dict[str, Any]]:
    """Every agent with its size (`agentkit list`)."""
    state = server_state(request)
    return await run_in_threadpool(
        lambda: [
            agent.to_dict()
            for agent in state.kit.list_agents()
            if key.agent is None or key.agent == agent.name
        ]
    )


@router.post("/agents", tags=["admin"], status_code=201)
async def create_agent(body: CreateAgent, request: Request, key: AdminKey) -> dict[str, Any]:
    """Create an agent (`agentkit create`)."""
    state = server_state(request)
    if key.agent is not None:
        raise ApiError(403, "permission_error", f"this key is for agent {key.agent!r} only")
    if body.grounding not in GROUNDING_MODES:
        raise ApiError(422, "invalid_request_error", f"grounding: one of {', '.join(GROUNDING_MODES)}")

    def run() -> dict[str, Any]:
        agent = state.kit.create_agent(
            body.name,
            description=body.description,
            system_prompt=body.system_prompt,
            model=body.model,
            embedder=body.embedder,
            top_k=body.top_k,
            grounding=body.grounding,
            abstention_message=body.abstention_message,
            generation=GenerationSettings(),
        )
        return agent.to_dict()

    return await run_in_threadpool(run)


@router.get("/agents/{name}", tags=["admin"])
async def show_agent(name: str, request: Request, key: AdminKey) -> dict[str, Any]:
    """An agent's settings and size (`agentkit show`)."""
    state = server_state(request)
    return await run_in_threadpool(lambda: state.kit.get_agent(name).to_dict())


@router.patch("/agents/{name}", tags=["admin"])
async def set_agent(name: str, body: AgentSettings, request: Request, key: AdminKey) -> dict[str, Any]:
    """Change the persona, log retention and answering settings (`agentkit set`)."""
    state = server_state(request)

    def run() -> dict[str, Any]:
        agent = state.kit.get_agent(name)
        agent.set(**body.model_dump(exclude_none=True))
        return agent.to_dict()

    return await run_in_threadpool(run)


@router.get("/agents/{name}/log", tags=["admin"])
async def question_log(
    name: str,
    request: Request,
    key: AdminKey,
    since: str | None = Query(default=None, max_length=20, description="90m, 12h, 7d, 2w"),
    unanswered: bool = False,
    channel: str | None = Query(default=None, max_length=20),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """The logged questions, newest first, with their feedback (`agentkit log`)."""
    state = server_state(request)

    def run() -> list[dict[str, Any]]:
        entries = state.kit.get_agent(name).log(
            since=since, unanswered=unanswered, channel=channel, limit=limit
        )
        return [entry.to_dict() for entry in entries]

    return await run_in_threadpool(run)


@router.delete("/agents/{name}", tags=["admin"])
async def delete_agent(name: str, request: Request, key: AdminKey) -> dict[str, Any]:
    """Delete an agent and everything it holds (`agentkit delete`)."""
    state = server_state(request)
    await run_in_threadpool(state.kit.delete_agent, name)
    return {"deleted": name}


@router.get("/agents/{name}/sources", tags=["admin"])
async def list_sources(name: str, request: Request, key: AdminKey) -> list[dict[str, Any]]:
    """The agent's sources (`agentkit sources`)."""
    state = server_state(request)
    return await run_in_threadpool(lambda: [info.to_dict() for info in state.kit.get_agent(name).sources()])


@router.post("/agents/{name}/sources", tags=["admin"])
async def add_source(name: str, body: AddSource, request: Request, key: AdminKey) -> dict[str, Any]:
    """Add a source and ingest it (`agentkit add`); returns the sync report."""
    state = server_state(request)

    def run() -> dict[str, Any]:
        agent = state.kit.get_agent(name)
        report = agent.add_source(
            body.location, options=body.options, kind=body.kind, refresh_interval_s=body.refresh_interval_s
        )
        return dataclasses.asdict(report)

    return await run_in_threadpool(run)


@router.post("/agents/{name}/sync", tags=["admin"])
async def sync(name: str, request: Request, key: AdminKey) -> dict[str, Any]:
    """Re-read every source (`agentkit sync`); returns the sync report."""
    state = server_state(request)
    return await run_in_threadpool(lambda: state.kit.get_agent(name).sync().to_dict())


@router.delete("/agents/{name}/sources/{source_id}", tags=["admin"])
async def remove_source(name: str, source_id: int, request: Request, key: AdminKey) -> dict[str, Any]:
    """Remove a source with its documents (`agentkit remove-source`)."""
    state = server_state(request)
    return await run_in_threadpool(
        lambda: dataclasses.asdict(state.kit.get_agent(name).remove_source(source_id))
    )


# ----- conversations owned by keys ---------------------------------------------------------


def _record_owner(kit: AgentKit, key: ApiKey, conversation_id: int) -> None:
    with kit.sessions() as session, session.begin():
        session.add(ApiConversationRow(conversation_id=conversation_id, api_key_id=key.id))


def _check_conversation_owner(kit: AgentKit, key: ApiKey, conversation_id: int) -> None:
    """Conversation ids are small numbers: a key sees only the conversations it started."""
    if key.scope == "admin" and key.agent is None:
        return
    with kit.sessions() as session:
        owner = session.scalar(
            select(ApiConversationRow.api_key_id).where(ApiConversationRow.conversation_id == conversation_id)
        )
    if owner != key.id and key.scope != "admin":
        raise ApiError(404, "not_found_error", f"no conversation {conversation_id} for this key")


def _conversation(kit: AgentKit, key: ApiKey, conversation_id: int) -> dict[str, Any]:
    _check_conversation_owner(kit, key, conversation_id)
    with kit.sessions() as session:
        found = session.execute(
            select(ConversationRow, AgentRow.name)
            .join(AgentRow, AgentRow.id == ConversationRow.agent_id)
            .where(ConversationRow.id == conversation_id)
        ).first()
        if found is None or (key.agent is not None and key.agent != found[1]):
            raise ApiError(404, "not_found_error", f"no conversation {conversation_id} for this key")
        conversation, agent_name = found
        messages = session.scalars(
            select(MessageRow).where(MessageRow.conversation_id == conversation_id).order_by(MessageRow.id)
        ).all()
        return {
            "id": conversation.id,
            "agent": agent_name,
            "title": conversation.title,
            "created_at": conversation.created_at.isoformat(),
            "messages": [
                {
                    "id": message.id,
                    "role": message.role,
                    "content": message.content,
                    "citations": message.citations,
                    "abstained": message.abstained,
                    "created_at": message.created_at.isoformat(),
                }
                for message in messages
            ],
        }
