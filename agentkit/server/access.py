"""Who may call what: the process's shared state, API errors, and the key, scope, agent, origin
and rate checks every API request passes before anything is answered or stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy import select

from agentkit.agent import Agent
from agentkit.ingest.refresh import as_utc
from agentkit.server.keys import ApiKey, normalize_origin, parse_rate, verify_key
from agentkit.server.limits import AnswerQueue, RateLimiter
from agentkit.server.settings import ServerSettings
from agentkit.store.models import ApiKeyRow, utc_now

if TYPE_CHECKING:
    from agentkit.kit import AgentKit

SCOPES_CHAT = ("chat", "admin")
SCOPES_SEARCH = ("chat", "ingest", "admin")
SCOPES_INGEST = ("ingest", "admin")
SCOPES_ADMIN = ("admin",)


class ApiError(Exception):
    """An HTTP error with a JSON body `{"error": {"type", "message"}}`."""

    def __init__(self, status: int, kind: str, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass
class ServerState:
    """What one process shares between requests: one kit (models load once), the limits."""

    kit: AgentKit
    settings: ServerSettings
    queue: AnswerQueue
    limiter: RateLimiter = field(default_factory=RateLimiter)
    accepting: bool = True
    _agents: dict[str, Agent] = field(default_factory=dict)
    _agents_lock: threading.Lock = field(default_factory=threading.Lock)

    def agent(self, name: str) -> Agent:
        """The named agent; the object is reused while the agent's row is the same, so its
        loaded indexes are too (they reload by themselves when the index version moves)."""
        current = self.kit.get_agent(name)
        with self._agents_lock:
            cached = self._agents.get(name)
            if cached is not None and _settings_of(cached) == _settings_of(current):
                return cached
            self._agents[name] = current
            return current

    def allowed_origins(self) -> set[str]:
        """Every origin some active key lists (what CORS preflights are answered for)."""
        with self.kit.sessions() as session:
            rows = session.execute(
                select(ApiKeyRow.origins, ApiKeyRow.expires_at).where(ApiKeyRow.revoked_at.is_(None))
            ).all()
        now = utc_now()
        return {
            origin
            for origins, expires_at in rows
            if expires_at is None or as_utc(expires_at) > now
            for origin in (origins or ())
        }


def _settings_of(agent: Agent) -> tuple[object, ...]:
    """What must match for a cached agent to answer as the stored one would (`agentkit set`
    changes the persona and answering settings while the server runs)."""
    return (
        agent.id,
        agent.index_key,
        agent.model,
        agent.embedder_id,
        agent.system_prompt,
        agent.grounding,
        agent.abstention_message,
        agent.greeting,
        agent.style,
        agent.answer_length,
        agent.top_k,
        agent.generation,
    )


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.agentkit
    return state


def same_origin(request: Request, origin: str) -> bool:
    """A page served by this server itself (the full-page chat) calls it from its own origin."""
    host = request.headers.get("host", "")
    return bool(host) and origin.lower().rstrip("/") == f"{request.url.scheme}://{host}".lower()


def authorize(request: Request, scopes: tuple[str, ...], *, agent: str | None = None) -> ApiKey:
    """Check the request's key; raise `ApiError` (401, 403 or 429) when it may not go on.

    Runs on a worker thread (it reads the key's row). Order: the client's rate first (so
    guessing keys costs rate too), then the key, its origins, its scope, its agent, its rate.
    """
    state = server_state(request)
    client = request.client.host if request.client else "unknown"
    if state.settings.client_rate:
        state.limiter.take(
            f"client:{client}", parse_rate(state.settings.client_rate), what="this client address"
        )
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "authentication_error", "missing API key: send Authorization: Bearer ak_...")
    key = verify_key(state.kit, presented)
    if key is None:
        raise ApiError(401, "authentication_error", "invalid API key (unknown, revoked or expired)")
    request.state.api_key_id = key.key_id
    origin = request.headers.get("origin")
    if origin is not None:
        try:
            allowed = normalize_origin(origin) in key.origins or same_origin(request, origin)
        except Exception:
            allowed = False
        if not allowed:
            raise ApiError(403, "permission_error", f"origin {origin[:200]!r} is not allowed for this key")
        request.state.cors_origin = origin
    if key.scope not in scopes:
        raise ApiError(
            403, "permission_error", f"a {key.scope} key cannot do this; it needs scope {' or '.join(scopes)}"
        )
    if agent is not None and key.agent is not None and key.agent != agent:
        raise ApiError(403, "permission_error", f"this key is for agent {key.agent!r}, not {agent!r}")
    if key.rate is not None:
        state.limiter.take(f"key:{key.id}", key.rate, what="this key")
    return key
