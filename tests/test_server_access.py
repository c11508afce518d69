"""The server's access rules and limits, one by one, against the real server on 127.0.0.1:
keys, scopes, agents, origins, rates, body size, validation, the answer queue; the records
webhook, native ask with conversations, admin operations, health checks and the access log."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentkit import AgentKit
from agentkit.models.generators import ChatMessage, Generator
from agentkit.server.keys import create_key, revoke_key
from agentkit.server.settings import ServerSettings
from agentkit.server.testing import RunningServer, running_server
from tests.fakes import FakeEmbedder, ScriptedGenerator
from tests.server_helpers import kettle_agent, secret

QUESTION = {
    "model": "helpdesk",
    "messages": [{"role": "user", "content": "How fast does the Lumo kettle boil?"}],
}
SHOP = "https://shop.example.com"


@pytest.fixture
def server(kit: AgentKit, tmp_path: Path) -> Iterator[RunningServer]:
    kettle_agent(kit, tmp_path)
    kettle_agent(kit, tmp_path, name="other")
    with running_server(kit, settings=ServerSettings(max_body_bytes=20_000, max_records=3)) as running:
        yield running


def call(
    server: RunningServer, method: str, path: str, key: str | None = None, **options: object
) -> httpx.Response:
    headers = dict(options.pop("headers", {}))  # type: ignore[call-overload]
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.request(method, server.url + path, headers=headers, timeout=30, **options)  # type: ignore[arg-type]


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]


def test_no_key_a_bad_key_and_a_revoked_key_get_401(kit: AgentKit, server: RunningServer) -> None:
    assert call(server, "POST", "/v1/chat/completions", json=QUESTION).status_code == 401
    bad = call(server, "POST", "/v1/chat/completions", "ak_123", json=QUESTION)
    assert bad.status_code == 401 and error_of(bad)["type"] == "authentication_error"
    key, good = create_key(kit, scope="chat")
    assert call(server, "POST", "/v1/chat/completions", good, json=QUESTION).status_code == 200
    revoke_key(kit, key.id)
    assert call(server, "POST", "/v1/chat/completions", good, json=QUESTION).status_code == 401


def test_scopes_and_agents_are_enforced(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    ingest = secret(kit, "ingest")
    denied = call(server, "POST", "/v1/chat/completions", ingest, json=QUESTION)
    assert denied.status_code == 403 and "scope" in error_of(denied)["message"]
    chat = secret(kit, "chat")
    pushed = call(server, "POST", "/api/agents/helpdesk/records", chat, json=[{"id": 1, "text": "x"}])
    assert pushed.status_code == 403
    assert call(server, "GET", "/api/agents", chat).status_code == 403
    other = secret(kit, "chat", agent="other")
    wrong = call(
        server, "POST", "/api/agents/helpdesk/ask", other, json={"question": "How fast does it boil?"}
    )
    assert wrong.status_code == 403 and "other" in error_of(wrong)["message"]
    assert call(server, "GET", "/api/agents/helpdesk/search?q=kettle", other).status_code == 403
    assert scripted_generator.prompts == []  # nothing was answered


def test_origins_are_denied_by_default_and_checked_for_cors(kit: AgentKit, server: RunningServer) -> None:
    open_key = secret(kit, "chat")
    shop_key = secret(kit, "chat", agent="helpdesk", origins=[SHOP])
    assert (
        call(
            server, "POST", "/v1/chat/completions", open_key, json=QUESTION, headers={"Origin": SHOP}
        ).status_code
        == 403
    )
    evil = call(
        server,
        "POST",
        "/v1/chat/completions",
        shop_key,
        json=QUESTION,
        headers={"Origin": "https://evil.example"},
    )
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    good = call(server, "POST", "/v1/chat/completions", shop_key, json=QUESTION, headers={"Origin": SHOP})
    assert good.status_code == 200 and good.headers["access-control-allow-origin"] == SHOP
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = call(server, "OPTIONS", "/v1/chat/completions", headers={"Origin": SHOP, **preflight})
    assert allowed.status_code == 204 and allowed.headers["access-control-allow-origin"] == SHOP
    refused = call(
        server, "OPTIONS", "/v1/chat/completions", headers={"Origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers


def test_a_key_rate_gives_429_with_retry_after(kit: AgentKit, server: RunningServer) -> None:
    limited = secret(kit, "chat", rate="2/min")
    statuses = [
        call(server, "GET", "/api/agents/helpdesk/search?q=kettle", limited).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = call(server, "GET", "/api/agents/helpdesk/search?q=kettle", limited)
    assert int(refused.headers["retry-after"]) >= 1 and error_of(refused)["type"] == "rate_limit_error"
    assert call(server, "GET", "/api/agents/helpdesk/search?q=kettle", secret(kit, "chat")).status_code == 200


def test_a_client_address_rate_gives_429(kit: AgentKit, tmp_path: Path) -> None:
    kettle_agent(kit, tmp_path)
    with running_server(kit, settings=ServerSettings(client_rate="3/min")) as running:
        keys = [secret(kit, "chat") for _ in range(4)]  # a new key does not reset the address's bucket
        statuses = [
            call(running, "GET", "/api/agents/helpdesk/search?q=kettle", key).status_code for key in keys
        ]
    assert statuses == [200, 200, 200, 429]


def test_body_size_count_and_validation_errors_name_the_problem(kit: AgentKit, server: RunningServer) -> None:
    ingest = secret(kit, "ingest")
    big = call(server, "POST", "/api/agents/helpdesk/records", ingest, json=[{"id": 1, "text": "x" * 30_000}])
    assert big.status_code == 413 and error_of(big)["type"] == "request_too_large"
    many = [{"id": n, "text": f"record {n}"} for n in range(4)]
    too_many = call(server, "POST", "/api/agents/helpdesk/records", ingest, json=many)
    assert too_many.status_code == 422 and "at most 3 records" in error_of(too_many)["message"]
    missing = call(server, "POST", "/api/agents/helpdesk/records", ingest, json=[{"id": 1}])
    assert missing.status_code == 422 and "0.text" in error_of(missing)["message"]
    chat = secret(kit, "chat")
    no_messages = call(
        server, "POST", "/v1/chat/completions", chat, json={"model": "helpdesk", "messages": []}
    )
    assert no_messages.status_code == 422 and "messages" in error_of(no_messages)["message"]
    bad_role = call(
        server,
        "POST",
        "/v1/chat/completions",
        chat,
        json={"model": "helpdesk", "messages": [{"role": "wizard", "content": "hi"}]},
    )
    assert bad_role.status_code == 422 and "role" in error_of(bad_role)["message"]
    last_assistant = call(
        server,
        "POST",
        "/v1/chat/completions",
        chat,
        json={"model": "helpdesk", "messages": [{"role": "assistant", "content": "hi"}]},
    )
    assert last_assistant.status_code == 422 and "last message" in error_of(last_assistant)["message"]
    hot = call(server, "POST", "/v1/chat/completions", chat, json={**QUESTION, "temperature": 9})
    assert hot.status_code == 422 and "temperature" in error_of(hot)["message"]
    unknown = call(server, "POST", "/api/agents/helpdesk/ask", chat, json={"question": "hi", "colour": "red"})
    assert unknown.status_code == 422 and "colour" in error_of(unknown)["message"]
    assert error_of(call(server, "GET", "/nowhere"))["type"] == "not_found_error"


def test_pushed_records_are_found_by_the_next_search_and_deleted_ones_are_not(
    kit: AgentKit, server: RunningServer
) -> None:
    ingest = secret(kit, "ingest", agent="helpdesk")
    records = [
        {
            "id": "order-17",
            "text": "Order 17 of the Zephyr blender ships on Friday.",
            "title": "Order 17",
            "url": "https://shop.example.com/orders/17",
            "metadata": {"status": "paid"},
        },
        {"id": "order-18", "text": "Order 18 of the Quokka toaster is on hold.", "title": "Order 18"},
    ]
    pushed = call(server, "POST", "/api/agents/helpdesk/records", ingest, json=records)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["added"] == 2
    again = call(server, "POST", "/api/agents/helpdesk/records", ingest, json=records)
    assert again.json()["added"] == 0 and again.json()["chunks_embedded"] == 0  # idempotent
    hits = call(server, "GET", "/api/agents/helpdesk/search?q=Zephyr blender&k=1", ingest).json()
    assert hits[0]["record_id"] == "order-17"
    deleted = call(server, "DELETE", "/api/agents/helpdesk/records", ingest, json={"ids": ["order-17"]})
    assert deleted.status_code == 200 and deleted.json()["removed"] == 1
    hits = call(server, "GET", "/api/agents/helpdesk/search?q=Zephyr blender&k=5", ingest).json()
    assert all(hit.get("record_id") != "order-17" for hit in hits)


def test_native_ask_keeps_a_conversation_for_the_key_that_started_it(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    chat = secret(kit, "chat", agent="helpdesk")
    scripted_generator.enqueue("The Lumo kettle has a warranty of 3 years from the date of purchase [1].")
    first = call(
        server,
        "POST",
        "/api/agents/helpdesk/ask",
        chat,
        json={"question": "What warranty does the Lumo kettle have?"},
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) >= {"answer", "abstained", "citations", "conversation_id"} and body["citations"]
    follow_up = call(
        server,
        "POST",
        "/api/agents/helpdesk/ask",
        chat,
        json={"question": "and how long is it?", "conversation_id": body["conversation_id"]},
    )
    assert follow_up.status_code == 200
    stored = call(server, "GET", f"/api/conversations/{body['conversation_id']}", chat).json()
    assert [message["role"] for message in stored["messages"]] == ["user", "assistant", "user", "assistant"]
    stranger = secret(kit, "chat", agent="helpdesk")
    assert call(server, "GET", f"/api/conversations/{body['conversation_id']}", stranger).status_code == 404
    hijack = call(
        server,
        "POST",
        "/api/agents/helpdesk/ask",
        stranger,
        json={"question": "and how long?", "conversation_id": body["conversation_id"]},
    )
    assert hijack.status_code == 404
    assert (
        call(server, "GET", f"/api/conversations/{body['conversation_id']}", secret(kit, "admin")).status_code
        == 200
    )


def test_admin_keys_manage_agents_and_sources(kit: AgentKit, server: RunningServer, tmp_path: Path) -> None:
    admin = secret(kit, "admin")
    created = call(server, "POST", "/api/agents", admin, json={"name": "faq", "embedder": "hashing-128"})
    assert created.status_code == 201, created.text
    assert call(server, "POST", "/api/agents", admin, json={"name": "faq"}).status_code == 409
    docs = tmp_path / "faq"
    docs.mkdir()
    (docs / "hours.md").write_text("# Hours\n\nThe shop opens at 9 o'clock.\n")
    added = call(server, "POST", "/api/agents/faq/sources", admin, json={"location": str(docs)})
    assert added.status_code == 200 and added.json()["added"] == 1
    sources = call(server, "GET", "/api/agents/faq/sources", admin).json()
    assert call(server, "POST", "/api/agents/faq/sync", admin).status_code == 200
    assert call(server, "DELETE", f"/api/agents/faq/sources/{sources[0]['id']}", admin).status_code == 200
    assert call(server, "DELETE", "/api/agents/faq/sources/999", admin).status_code == 404
    assert "faq" in [agent["name"] for agent in call(server, "GET", "/api/agents", admin).json()]
    assert call(server, "DELETE", "/api/agents/faq", admin).status_code == 200
    assert call(server, "GET", "/api/agents/faq", admin).status_code == 404


def test_health_docs_and_an_access_log_without_questions(
    kit: AgentKit, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert call(server, "GET", "/healthz").json() == {"status": "ok"}
    assert call(server, "GET", "/readyz").json()["status"] == "ready"
    assert call(server, "GET", "/openapi.json").json()["paths"]["/v1/chat/completions"]
    assert call(server, "GET", "/docs").status_code == 200
    with caplog.at_level(logging.INFO, logger="agentkit.server.access"):
        call(server, "POST", "/v1/chat/completions", secret(kit, "chat"), json=QUESTION)
    lines = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "agentkit.server.access"
    ]
    completion = [line for line in lines if line["path"] == "/v1/chat/completions"][0]
    assert completion["status"] == 200 and completion["agent"] == "helpdesk" and completion["key"]
    assert "question" not in completion and "Lumo" not in caplog.text


class BlockingGenerator(Generator):
    """Answers only once `release` is set; `started` says a generation began."""

    context_window = 2048

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        self.started.set()
        self.release.wait(timeout=30)
        yield "The Lumo kettle boils 4 litres in 6 minutes [1]."


def test_a_full_queue_answers_429_with_retry_after_at_once(tmp_path: Path) -> None:
    generator = BlockingGenerator()
    with AgentKit(home=tmp_path / "home", embedder=FakeEmbedder(), generator=generator) as kit:
        kettle_agent(kit, tmp_path)
        key = secret(kit, "chat")
        with running_server(kit, settings=ServerSettings(concurrency=1, queue_length=0)) as running:
            results: list[httpx.Response] = []
            first = threading.Thread(
                target=lambda: results.append(
                    call(running, "POST", "/v1/chat/completions", key, json=QUESTION)
                )
            )
            first.start()
            assert generator.started.wait(timeout=10)
            refused = call(running, "POST", "/v1/chat/completions", key, json={**QUESTION, "stream": True})
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert error_of(refused)["type"] == "rate_limit_error"
            generator.release.set()
            first.join(timeout=30)
            assert results[0].status_code == 200
            assert call(running, "POST", "/v1/chat/completions", key, json=QUESTION).status_code == 200
