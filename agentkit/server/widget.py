"""The embeddable chat widget: `GET /widget.js` and the full-page chat `GET /agents/{name}/chat`.

Both are static files shipped in `agentkit/server/static/` (plain JavaScript, no build step, nothing
loaded from a CDN). The widget talks to `POST /v1/chat/completions` with the key it was given, so
the API's key rules (scope, agent, allowed origins, rate limits) decide what it may do; these
routes need no key because they hold no data. `GET /api/agents/{name}/widget` (a chat key) is
what the widget shows before the first question: the agent's greeting.
"""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from agentkit.server.access import SCOPES_CHAT, authorize, server_state

STATIC = Path(__file__).resolve().parent / "static"
# The same rule `AgentKit.create_agent` applies to names; anything else cannot be an agent.
AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

# The full page runs only our own script and talks only to this server: no inline script, no
# images, no frames, no forms posted elsewhere.
CHAT_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["widget"])


@cache
def static_text(name: str) -> str:
    """The text of a file shipped in `agentkit/server/static/`."""
    return (STATIC / name).read_text(encoding="utf-8")


@router.get("/widget.js", include_in_schema=False, name="widget_script")
def widget_script() -> Response:
    """The chat widget, for `<script src=".../widget.js" data-agent="NAME" data-key="KEY">`."""
    return Response(
        static_text("widget.js"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/api/agents/{name}/widget", name="widget_config")
async def widget_config(name: str, request: Request) -> dict[str, Any]:
    """What the widget shows before the first question (a chat key for the agent)."""
    state = server_state(request)
    await run_in_threadpool(authorize, request, SCOPES_CHAT, agent=name)
    request.state.agent = name
    agent = await run_in_threadpool(state.agent, name)
    return {"agent": agent.name, "greeting": agent.greeting}


@router.get("/agents/{name}/chat", include_in_schema=False, name="agent_chat_page")
def agent_chat_page(name: str, request: Request) -> HTMLResponse:
    """A full-page chat with one agent; the key comes from `?key=` or is typed into the page."""
    if not AGENT_NAME.match(name):
        raise HTTPException(status_code=404, detail="not an agent name")
    page = (
        static_text("chat.html")
        .replace("{widget_src}", html.escape(request.url_for("widget_script").path, quote=True))
        .replace("{agent}", html.escape(name, quote=True))
    )
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": CHAT_PAGE_POLICY,
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
