"""Curated answers over HTTP (admin keys): list, add, revise and remove an agent's curated
answers, and correct a logged answer in place, as `agentkit answers` does. Changes are recorded
with the key's id and take effect on the next question in every server process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from agentkit.improve.curated import CuratedAnswerExistsError, CuratedAnswerNotFoundError
from agentkit.server.access import SCOPES_ADMIN, ApiError, authorize, server_state
from agentkit.server.keys import ApiKey
from agentkit.store.models import AgentRow, QuestionLogRow

router = APIRouter(prefix="/api", tags=["curated answers"])

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewAnswer(Strict):
    question: str = Field(min_length=1, max_length=4000)
    answer: str = Field(min_length=1, max_length=100_000)
    source: str | None = Field(default=None, max_length=2000)


class Revision(Strict):
    answer: str = Field(min_length=1, max_length=100_000)
    question: str | None = Field(default=None, min_length=1, max_length=4000)
    source: str | None = Field(default=None, max_length=2000)


class LoggedRevision(Strict):
    answer: str = Field(min_length=1, max_length=100_000)


def _admin(request: Request) -> ApiKey:
    return authorize(request, SCOPES_ADMIN, agent=request.path_params.get("name"))


AdminKey = Annotated[ApiKey, Depends(_admin)]


@router.get("/agents/{name}/answers")
async def list_answers(
    name: str,
    request: Request,
    key: AdminKey,
    include_removed: bool = Query(default=False, description="Also the removed ones."),
    history: bool = Query(default=False, description="Every change instead: who, when, what."),
) -> list[dict[str, Any]]:
    """The agent's curated answers (`agentkit answers list`)."""
    state = server_state(request)

    def run() -> list[dict[str, Any]]:
        curated = state.kit.get_agent(name).curated
        if history:
            return [change.to_dict() for change in curated.history()]
        return [item.to_dict() for item in curated.list(include_removed=include_removed)]

    return await run_in_threadpool(run)


@router.post("/agents/{name}/answers", status_code=201)
async def add_answer(name: str, body: NewAnswer, request: Request, key: AdminKey) -> dict[str, Any]:
    """Add a curated answer (`agentkit answers add`); 409 when the question is curated already
    (revise that answer: PATCH with its id)."""
    state = server_state(request)

    def run() -> dict[str, Any]:
        curated = state.kit.get_agent(name).curated
        try:
            return curated.add(body.question, body.answer, source=body.source, by=key.key_id).to_dict()
        except CuratedAnswerExistsError as exists:
            raise ApiError(409, "conflict_error", str(exists)) from None

    return await run_in_threadpool(run)


@router.patch("/agents/{name}/answers/{answer_id}")
async def revise_answer(
    name: str, answer_id: int, body: Revision, request: Request, key: AdminKey
) -> dict[str, Any]:
    """Revise a curated answer's text (and question or source): its version goes up by one."""
    state = server_state(request)

    def run() -> dict[str, Any]:
        curated = state.kit.get_agent(name).curated
        return curated.revise(
            answer_id, body.answer, question=body.question, source=body.source, by=key.key_id
        ).to_dict()

    return await run_in_threadpool(_not_found_as_404, run)


@router.delete("/agents/{name}/answers/{answer_id}")
async def remove_answer(name: str, answer_id: int, request: Request, key: AdminKey) -> dict[str, Any]:
    """Stop giving a curated answer (`agentkit answers remove`); its history stays."""
    state = server_state(request)

    def run() -> dict[str, Any]:
        return state.kit.get_agent(name).curated.remove(answer_id, by=key.key_id).to_dict()

    return await run_in_threadpool(_not_found_as_404, run)


@router.post("/log/{log_id}/revise")
async def revise_logged(log_id: int, body: LoggedRevision, request: Request) -> dict[str, Any]:
    """Correct a logged answer (`agentkit answers revise NAME LOG_ID`): the next question that
    means the same gets this answer. Needs an admin key (of that agent, when bound to one)."""
    state = server_state(request)
    name = await run_in_threadpool(_agent_of_log, request, log_id)
    key = await run_in_threadpool(authorize, request, SCOPES_ADMIN, agent=name)
    request.state.agent = name

    def run() -> dict[str, Any]:
        return state.kit.get_agent(name).curated.revise_logged(log_id, body.answer, by=key.key_id).to_dict()

    return await run_in_threadpool(_not_found_as_404, run)


def _agent_of_log(request: Request, log_id: int) -> str:
    with server_state(request).kit.sessions() as session:
        name = session.scalar(
            select(AgentRow.name)
            .join(QuestionLogRow, QuestionLogRow.agent_id == AgentRow.id)
            .where(QuestionLogRow.id == log_id)
        )
    if name is None:
        authorize(request, SCOPES_ADMIN)  # an unknown id is told only to an admin
        raise ApiError(404, "not_found_error", f"no logged question {log_id}")
    return name


def _not_found_as_404(run: Callable[[], T]) -> T:
    try:
        return run()
    except CuratedAnswerNotFoundError as error:
        raise ApiError(404, "not_found_error", str(error)) from None
