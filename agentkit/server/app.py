"""The FastAPI application: one `AgentKit` per process, its limits, errors as JSON, CORS, the
access log, health checks, and the routers (OpenAI-compatible, native, widget).

    create_app(kit, settings=ServerSettings())      # tests and embedding applications
    app_from_environment()                           # what `agentkit serve` hands to uvicorn
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

import agentkit
from agentkit.errors import AgentkitError
from agentkit.kit import AgentKit
from agentkit.server import curated_api, native_api, openai_api, widget
from agentkit.server.access import ApiError, ServerState, same_origin, server_state
from agentkit.server.http_errors import http_error, type_for_status
from agentkit.server.keys import normalize_origin
from agentkit.server.limits import AnswerQueue, RateLimited
from agentkit.server.settings import ServerSettings

access_log = logging.getLogger("agentkit.server.access")

_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_CORS_METHODS = "GET, POST, DELETE, OPTIONS"
_CORS_HEADERS = "Authorization, Content-Type"


def create_app(kit: AgentKit, *, settings: ServerSettings | None = None) -> FastAPI:
    """The HTTP app over `kit` (shared by every request; its models load once)."""
    settings = settings or ServerSettings()
    state = ServerState(
        kit=kit,
        settings=settings,
        queue=AnswerQueue(concurrency=settings.concurrency, queue_length=settings.queue_length),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Shutting down: uvicorn has stopped accepting and waited for open responses; answers
        # still queued finish before the process lets go of its models.
        state.accepting = False
        await run_in_threadpool(state.queue.shutdown)

    app = FastAPI(
        title="agentkit",
        version=agentkit.__version__,
        description="Agents that answer from their own sources, with citations. "
        "Authenticate with `Authorization: Bearer <API key>` (`agentkit keys create`).",
        lifespan=lifespan,
    )
    app.state.agentkit = state
    _add_error_handlers(app)
    app.middleware("http")(_edge)
    app.include_router(openai_api.router)
    app.include_router(native_api.router)
    app.include_router(curated_api.router)
    app.include_router(widget.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz() -> dict[str, Any] | JSONResponse:
        """The database answers and the process accepts answers."""
        try:
            await run_in_threadpool(_ping, kit)
        except Exception:
            return _error(503, "service_unavailable", "the database does not answer")
        if not state.accepting:
            return _error(503, "service_unavailable", "shutting down")
        return {"status": "ready", "answers_pending": state.queue.pending, "capacity": state.queue.capacity}

    return app


def app_from_environment() -> FastAPI:
    """The app `agentkit serve` runs in each worker: kit and limits from the environment."""
    if not access_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
    return create_app(AgentKit(), settings=ServerSettings.from_environment())


def _ping(kit: AgentKit) -> None:
    with kit.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _error(status: int, kind: str, message: str, *, retry_after_s: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def known(request: Request, error: Exception) -> JSONResponse:
        status, kind, message, retry_after_s = http_error(error)
        return _error(status, kind, message, retry_after_s=retry_after_s)

    async def validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = [
            f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', 'invalid')}"
            for problem in error.errors()[:10]
        ]
        return _error(422, "invalid_request_error", "; ".join(problems) or "invalid request")

    async def http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return _error(error.status_code, type_for_status(error.status_code), str(error.detail))

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    # Expected errors get their own handlers: Starlette hands a bare `Exception` handler to its
    # outermost middleware, which re-raises after answering, so each 401 was logged as a
    # traceback ("Exception in ASGI application") and missed the access log.
    for expected in (AgentkitError, ApiError, RateLimited):
        app.add_exception_handler(expected, known)
    app.add_exception_handler(Exception, known)


async def _edge(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Body limits, CORS and the access log, around every request."""
    started = time.monotonic()
    state = server_state(request)
    response = await _checked(request, call_next, state)
    origin = getattr(request.state, "cors_origin", None)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Vary"] = "Origin"
    record: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": request.method,
        "path": request.url.path,
        "status": response.status_code,
        "ms": round((time.monotonic() - started) * 1000, 1),
        "client": request.client.host if request.client else None,
        "key": getattr(request.state, "api_key_id", None),
        "agent": getattr(request.state, "agent", None),
    }
    question = getattr(request.state, "question", None)
    if question is not None:
        record["question"] = question
    access_log.info(json.dumps(record, ensure_ascii=False))
    return response


async def _checked(
    request: Request, call_next: Callable[[Request], Awaitable[Response]], state: ServerState
) -> Response:
    origin = request.headers.get("origin")
    if request.method == "OPTIONS" and origin and "access-control-request-method" in request.headers:
        return await _preflight(request, origin, state)
    if request.method in _BODY_METHODS:
        length = request.headers.get("content-length")
        if length is None and "chunked" in request.headers.get("transfer-encoding", "").lower():
            return _error(411, "invalid_request_error", "send the body with a Content-Length")
        if length is not None:
            if not length.isdigit():
                return _error(400, "invalid_request_error", "Content-Length must be a number")
            if int(length) > state.settings.max_body_bytes:
                return _error(
                    413,
                    "request_too_large",
                    f"the body is {int(length)} bytes; the limit is {state.settings.max_body_bytes}",
                )
    return await call_next(request)


async def _preflight(request: Request, origin: str, state: ServerState) -> Response:
    """Answer a CORS preflight only for an origin some active key lists (or this server's own)."""
    try:
        normalized = normalize_origin(origin)
    except Exception:
        normalized = ""
    allowed = same_origin(request, origin) or (
        bool(normalized) and normalized in await run_in_threadpool(state.allowed_origins)
    )
    if not allowed:
        return _error(403, "permission_error", f"origin {origin[:200]!r} is not allowed")
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": _CORS_METHODS,
            "Access-Control-Allow-Headers": _CORS_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )
