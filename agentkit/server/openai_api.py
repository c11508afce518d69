"""The OpenAI-compatible API: `POST /v1/chat/completions` and `GET /v1/models`.

`model` names the agent. The last user message is the question; the earlier turns are the
history the model sees and what a follow-up is completed with for retrieval. The reply is the
grounded answer with its `[n]` marks; its citations and whether it abstained travel in the
extra field `agentkit` of the response (and of the final chunk of a stream), so any OpenAI
client works unchanged and one that knows the field can show the sources. The field also holds
the question's `log_id` in the agent's question log (what `POST /api/feedback` names); the
question is logged as channel "widget" when a browser asked (it sends Origin), else "openai".
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agentkit.agent import Agent
from agentkit.answering.followup import Turn, standalone_question, turns_from
from agentkit.answering.grounding import DEFAULT_ABSTENTION_MESSAGE
from agentkit.improve.log import LoggedStream
from agentkit.models.generators import ChatMessage
from agentkit.results import Answer
from agentkit.server.access import SCOPES_CHAT, ApiError, authorize, server_state
from agentkit.server.answers import answer_in_queue, stream_in_queue, with_generation
from agentkit.server.http_errors import error_body
from agentkit.server.keys import ApiKey

router = APIRouter(tags=["OpenAI-compatible"])

HISTORY_MESSAGES = 12


class ContentPart(BaseModel):
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    # OpenAI clients send fields agentkit has no use for (name, tool_calls): accepted, unused.
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # The OpenAI API has many sampling options; those agentkit does not use are accepted and
    # ignored so that clients and chat UIs work unchanged.
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200, description="The agent's name.")
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0, le=2)
    n: int = Field(default=1, ge=1, le=1)


def chat_key(request: Request) -> ApiKey:
    return authorize(request, SCOPES_CHAT)


ChatKey = Annotated[ApiKey, Depends(chat_key)]


@router.get("/v1/models")
async def list_models(request: Request, key: ChatKey) -> dict[str, Any]:
    """The agents this key may use, as OpenAI models."""
    state = server_state(request)
    agents = await run_in_threadpool(state.kit.list_agents)
    return {
        "object": "list",
        "data": [
            {
                "id": agent.name,
                "object": "model",
                "created": int(agent.created_at.timestamp()) if agent.created_at else 0,
                "owned_by": "agentkit",
            }
            for agent in agents
            if key.agent is None or key.agent == agent.name
        ],
    }


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, key: ChatKey
) -> dict[str, Any] | StreamingResponse:
    """Answer the conversation's last user message from the agent's sources."""
    state = server_state(request)
    if key.agent is not None and key.agent != body.model:
        raise ApiError(403, "permission_error", f"this key is for agent {key.agent!r}, not {body.model!r}")
    if len(body.messages) > state.settings.max_messages:
        raise ApiError(
            422, "invalid_request_error", f"messages: at most {state.settings.max_messages} messages"
        )
    agent = await run_in_threadpool(state.agent, body.model)
    question, history, turns = split_conversation(body.messages, agent)
    request.state.agent = agent.name
    if agent.name in state.settings.log_question_agents:
        request.state.question = question
    agent = with_generation(
        agent, max_tokens=body.max_completion_tokens or body.max_tokens, temperature=body.temperature
    )
    search_query = standalone_question(question, turns)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    # A browser sends Origin: the widget (or a page like it) asked; any other client is "openai".
    channel = "widget" if request.headers.get("origin") else "openai"
    started: list[LoggedStream] = []

    def start() -> LoggedStream:
        stream = agent.question_log.logged(
            agent.answer_stream(question, history=history, search_query=search_query),
            question=question,
            channel=channel,
            api_key_id=key.id,
        )
        started.append(stream)
        return stream

    def log_id() -> int | None:
        return started[0].log_id if started else None

    if not body.stream:
        answer = await answer_in_queue(state, agent, lambda: start().finish())
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": agent.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "agentkit": agentkit_extra(answer, log_id()),
        }
    events = stream_in_queue(state, agent, start)  # admitted (or 429) before the response starts
    return StreamingResponse(
        sse_chunks(events, log_id, completion_id=completion_id, created=created, model=agent.name),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def split_conversation(
    messages: Sequence[ChatMessageIn], agent: Agent
) -> tuple[str, list[ChatMessage], list[Turn]]:
    """The question (the last message, from the user), the earlier turns as model history and
    as question-answer pairs for follow-up completion. System messages are ignored: the
    agent's own instructions apply."""
    if messages[-1].role != "user" or not messages[-1].text().strip():
        raise ApiError(
            422, "invalid_request_error", "messages: the last message must be a non-empty user message"
        )
    question = messages[-1].text().strip()
    if len(question) > 4000:
        raise ApiError(422, "invalid_request_error", "messages: the question is longer than 4000 characters")
    abstentions = {DEFAULT_ABSTENTION_MESSAGE.strip(), (agent.abstention_message or "").strip()} - {""}
    earlier = [(message.role, message.text().strip()) for message in messages[:-1]]
    history = [ChatMessage(role, text) for role, text in earlier if role in ("user", "assistant") and text]
    turns = turns_from((role, text, text in abstentions) for role, text in earlier)
    return question, history[-HISTORY_MESSAGES:], turns


def agentkit_extra(answer: Answer, log_id: int | None) -> dict[str, Any]:
    """The extra field: citations, abstained, and the question's log id (what feedback names;
    null when the agent keeps no log)."""
    return {
        "citations": [
            {"n": citation.n, "title": citation.title, "uri": citation.uri, "page": citation.page}
            for citation in answer.citations
        ],
        "abstained": answer.abstained,
        "log_id": log_id,
    }


async def sse_chunks(
    events: AsyncIterator[str | Answer],
    log_id: Callable[[], int | None],
    *,
    completion_id: str,
    created: int,
    model: str,
) -> AsyncIterator[bytes]:
    """The answer as OpenAI `chat.completion.chunk` server-sent events, then `[DONE]`."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in events:
            if isinstance(event, Answer):
                yield chunk({}, "stop", agentkit=agentkit_extra(event, log_id()))
            elif event:
                yield chunk({"content": event})
    except asyncio.CancelledError:
        raise
    except Exception as error:  # headers are sent: the error travels as an event
        yield f"data: {json.dumps(error_body(error))}\n\n".encode()
    yield b"data: [DONE]\n\n"
