"""The widget's routes and a static review of widget.js: what it may never do with model text."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agentkit.server.widget import STATIC, router


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


@pytest.fixture
def widget_js() -> str:
    return (STATIC / "widget.js").read_text(encoding="utf-8")


def _code(source: str) -> str:
    """widget.js without its comments (the header comment names what the code must not do)."""
    return re.sub(r"/\*.*?\*/", "", source, flags=re.S)


def test_widget_js_is_served_as_javascript(client: TestClient, widget_js: str) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == widget_js


def test_chat_page_is_html_with_the_widget_in_page_mode(client: TestClient) -> None:
    response = client.get("/agents/helpdesk/chat?key=abc")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<script src="/widget.js" data-agent="helpdesk" data-mode="page"' in page
    assert "abc" not in page, "the key stays in the address; the script reads it from there"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "img-src 'none'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("name", ["<script>", "a b", ".hidden", "x" * 101])
def test_chat_page_refuses_what_cannot_be_an_agent_name(client: TestClient, name: str) -> None:
    response = client.get(f"/agents/{name}/chat")
    assert response.status_code == 404
    assert "<script>" not in response.text


def test_widget_never_writes_html(widget_js: str) -> None:
    code = _code(widget_js)
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("href"',
        "srcdoc",
        "DOMParser",
        "createContextualFragment",
    ):
        assert sink not in code, f"widget.js uses {sink}"
    # No element that loads something by itself is ever created.
    created = set(re.findall(r"""(?:createElement|el)\(\s*["'](\w+)["']""", code))
    assert created.isdisjoint({"img", "script", "iframe", "object", "embed", "link", "a"} - {"a"}), created
    assert "textContent" in code


def test_widget_links_only_http_uris(widget_js: str) -> None:
    code = _code(widget_js)
    assert "new URL(value)" in code
    assert 'parsed.protocol !== "http:" && parsed.protocol !== "https:"' in code
    # Every href assignment is the checked value, and every link opens safely.
    assignments = re.findall(r"\.href\s*=\s*([^;]+);", code)
    assert assignments == ["href"], assignments
    assert "href = safeHttpUrl(citation.uri)" in code
    assert 'rel = "noopener noreferrer"' in code
    assert 'target = "_blank"' in code


def test_widget_streams_the_openai_compatible_api(widget_js: str) -> None:
    code = _code(widget_js)
    assert '"/v1/chat/completions"' in code
    assert "stream: true" in code and "model: agent" in code
    assert "getReader()" in code
    assert "sessionStorage" in code
    assert '"Bearer " + key' in code
