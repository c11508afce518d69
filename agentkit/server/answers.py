"""Answers on the process's answering threads: admitted to the bounded queue before the
response starts (429 when full), local models serialized by one lock, streams handed from the
answering thread to the event loop piece by piece."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from agentkit.agent import Agent
from agentkit.answering.persona import DEFAULT_ANSWER_LENGTH
from agentkit.answering.pipeline import AnswerStream
from agentkit.models.registry import OPENAI
from agentkit.results import Answer
from agentkit.server.access import ServerState

T = TypeVar("T")

MAX_ANSWER_TOKENS = 1024
_END = object()


def with_generation(agent: Agent, *, max_tokens: int | None, temperature: float | None) -> Agent:
    """The agent with this request's sampling settings (a copy; the shared one is unchanged)."""
    if max_tokens is None and temperature is None:
        return agent
    changes: dict[str, object] = {}
    if max_tokens is not None:
        changes["max_answer_tokens"] = min(max_tokens, MAX_ANSWER_TOKENS)
    if temperature is not None:
        changes["temperature"] = temperature
    variant = copy.copy(agent)
    variant.generation = dataclasses.replace(agent.generation, **changes)  # type: ignore[arg-type]
    if max_tokens is not None:
        variant.answer_length = DEFAULT_ANSWER_LENGTH  # the request's bound wins over the persona's
    return variant


def _is_local(agent: Agent) -> bool:
    return not agent.model.startswith(f"{OPENAI}:")


async def answer_in_queue(state: ServerState, agent: Agent, work: Callable[[], T]) -> T:
    """Run `work` (an answer) on an answering thread; `QueueFull` at once when none is free."""

    def run() -> T:
        if _is_local(agent):
            with state.queue.model_lock:
                return work()
        return work()

    return await asyncio.wrap_future(state.queue.submit(run))


def stream_in_queue(
    state: ServerState, agent: Agent, start: Callable[[], AnswerStream]
) -> AsyncIterator[str | Answer]:
    """Admit the stream now (or raise `QueueFull`); iterate for its pieces, then its `Answer`.

    The answer runs to the end on its thread even when the client goes away, so the turn and
    the slot are released in order.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[object] = asyncio.Queue()

    def put(item: object) -> None:
        loop.call_soon_threadsafe(events.put_nowait, item)

    def produce() -> None:
        try:
            stream = start()
            for piece in stream:
                put(piece)
            put(stream.finish())
        except BaseException as error:  # handed to the response, which says what went wrong
            put(error)
        finally:
            put(_END)

    def run() -> None:
        if _is_local(agent):
            with state.queue.model_lock:
                produce()
        else:
            produce()

    state.queue.submit(run)

    async def iterate() -> AsyncIterator[str | Answer]:
        while True:
            item = await events.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    return iterate()
