"""The API server the widget's browser test talks to, on 127.0.0.1 with one chat key.

`start_api_server(kit, agent=..., origins=[...], generator=...)` yields an `ApiServer`: its URL,
the key (scope chat, bound to the agent and the origins), the scripted generator, and the bodies
of the chat requests it received.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from agentkit import AgentKit
from agentkit.server.widget import router as widget_router
from tests.fakes import ScriptedGenerator


@dataclass
class ApiServer:
    url: str
    key: str
    generator: ScriptedGenerator
    requests: list[dict[str, Any]] = field(default_factory=list)


def _stub_app(kit: AgentKit, server: ApiServer, *, agent: str, origins: list[str]) -> FastAPI:
    """A stand-in that keeps the server's contract (key, origin, OpenAI chunks, agentkit extra)."""
    app = FastAPI()
    app.include_router(widget_router)

    def cors(origin: str | None) -> dict[str, str]:
        if origin in origins:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {}

    @app.options("/v1/chat/completions")
    def preflight(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin not in origins:
            return Response(status_code=400)
        headers = cors(origin) | {
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "authorization, content-type",
        }
        return Response(status_code=204, headers=headers)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        origin = request.headers.get("origin")
        if request.headers.get("authorization") != f"Bearer {server.key}":
            return JSONResponse({"error": {"type": "authentication_error", "message": "bad key"}}, 401)
        if origin is not None and origin not in origins:
            message = f"origin {origin!r} is not allowed for this key"
            return JSONResponse({"error": {"type": "permission_error", "message": message}}, 403)
        body = await request.json()
        server.requests.append(body)
        if body["model"] != agent:
            return JSONResponse({"error": {"type": "permission_error", "message": "wrong agent"}}, 403)
        chat_agent = kit.get_agent(agent)
        question = body["messages"][-1]["content"]

        def events() -> Iterator[str]:
            stream = chat_agent.stream(question)
            for piece in stream:
                chunk = {
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            answer = stream.answer
            assert answer is not None
            extra = {
                "citations": [
                    {"n": c.n, "title": c.title, "uri": c.uri, "page": c.page} for c in answer.citations
                ],
                "abstained": answer.abstained,
            }
            final = {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "agentkit": extra,
            }
            yield f"data: {json.dumps(final)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=cors(origin))

    return app


@contextmanager
def start_api_server(
    kit: AgentKit, *, agent: str, origins: list[str], generator: ScriptedGenerator
) -> Iterator[ApiServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ApiServer(
        url=f"http://127.0.0.1:{port}", key="ak_" + secrets.token_urlsafe(16), generator=generator
    )
    app = _stub_app(kit, server, agent=agent, origins=origins)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test API server did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
