"""Feedback on answers: `agent.feedback(...)` in Python and `POST /api/feedback` on the server,
authorised like the conversation (or the question) it is about; bad input is a 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from agentkit import AgentKit
from agentkit.cli.app import cli
from agentkit.errors import FeedbackTargetNotFoundError, InvalidSettingError
from agentkit.server.testing import RunningServer, running_server
from agentkit.store.models import FeedbackRow
from tests.server_helpers import kettle_agent, secret

QUESTION = "How fast does the Lumo kettle boil?"
SITE = "https://shop.example.com"


def feedback_rows(kit: AgentKit) -> list[FeedbackRow]:
    with kit.sessions() as session:
        return list(session.scalars(select(FeedbackRow).order_by(FeedbackRow.id)))


# ----- Python ------------------------------------------------------------------------------


def test_python_feedback_by_log_id_or_message_id_is_stored(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    stream = agent.stream(QUESTION)
    stream.finish()
    conversation = agent.chat()
    conversation.ask(QUESTION)
    first = agent.feedback(log_id=stream.log_id, rating=1)
    second = agent.feedback(message_id=conversation.last_message_id, rating=-1, comment=" wrong kettle ")
    up, down = feedback_rows(kit)
    assert (up.id, up.rating, up.log_id, up.message_id, up.channel) == (
        first,
        1,
        stream.log_id,
        None,
        "python",
    )
    assert (down.id, down.rating, down.comment) == (second, -1, "wrong kettle")
    assert down.message_id == conversation.last_message_id and down.log_id == conversation.last_log_id
    assert [entry.feedback for entry in agent.log()] == [[(-1, "wrong kettle")], [(1, "")]]


def test_feedback_on_a_conversation_whose_log_is_off_names_the_message(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.set(keep_log="off")
    conversation = agent.chat()
    conversation.ask(QUESTION)
    agent.feedback(message_id=conversation.last_message_id, rating=1)
    (row,) = feedback_rows(kit)
    assert row.log_id is None and row.message_id == conversation.last_message_id


def test_bad_python_feedback_is_refused(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    other = kettle_agent(kit, tmp_path, name="other")
    stream = other.stream(QUESTION)
    stream.finish()
    with pytest.raises(InvalidSettingError, match="rating"):
        other.feedback(log_id=stream.log_id, rating=5)
    with pytest.raises(InvalidSettingError, match="log id or a message id"):
        agent.feedback(rating=1)
    with pytest.raises(FeedbackTargetNotFoundError, match="no logged question 999"):
        agent.feedback(log_id=999, rating=1)
    with pytest.raises(FeedbackTargetNotFoundError, match="for this agent"):
        agent.feedback(log_id=stream.log_id, rating=1)  # another agent's answer
    conversation = agent.chat()
    conversation.ask(QUESTION)
    assert conversation.last_message_id is not None
    with pytest.raises(FeedbackTargetNotFoundError, match="no answer message"):
        agent.feedback(message_id=conversation.last_message_id - 1, rating=1)  # the question's message
    assert feedback_rows(kit) == []


# ----- the server --------------------------------------------------------------------------


@pytest.fixture
def server(kit: AgentKit, tmp_path: Path) -> Iterator[RunningServer]:
    kettle_agent(kit, tmp_path)
    kettle_agent(kit, tmp_path, name="other")
    with running_server(kit) as running:
        yield running


def post(server: RunningServer, path: str, key: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(
        server.url + path, json=body, headers={"Authorization": f"Bearer {key}", **headers}, timeout=30
    )


def test_the_native_api_answer_is_rated_by_its_message_id(kit: AgentKit, server: RunningServer) -> None:
    key = secret(kit, "chat", agent="helpdesk")
    asked = post(server, "/api/agents/helpdesk/ask", key, {"question": QUESTION}).json()
    response = post(
        server,
        "/api/feedback",
        key,
        {"message_id": asked["message_id"], "rating": "down", "comment": "too vague"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["log_id"] == asked["log_id"] and response.json()["rating"] == "down"
    (row,) = feedback_rows(kit)
    assert (row.rating, row.comment, row.channel, row.log_id) == (-1, "too vague", "server", asked["log_id"])
    assert row.api_key_id is not None
    (entry,) = kit.get_agent("helpdesk").log()
    assert entry.feedback == [(-1, "too vague")]


def test_only_the_key_that_asked_or_an_admin_key_may_rate(kit: AgentKit, server: RunningServer) -> None:
    owner = secret(kit, "chat")
    asked = post(server, "/api/agents/helpdesk/ask", owner, {"question": QUESTION}).json()
    completion = post(
        server,
        "/v1/chat/completions",
        owner,
        {"model": "helpdesk", "messages": [{"role": "user", "content": QUESTION}]},
    ).json()
    log_id = completion["agentkit"]["log_id"]
    stranger = secret(kit, "chat")
    for body in ({"message_id": asked["message_id"], "rating": "up"}, {"log_id": log_id, "rating": "up"}):
        refused = post(server, "/api/feedback", stranger, body)
        assert refused.status_code == 404 and refused.json()["error"]["type"] == "not_found_error"
    other_agent_admin = secret(kit, "admin", agent="other")
    assert (
        post(server, "/api/feedback", other_agent_admin, {"log_id": log_id, "rating": "up"}).status_code
        == 404
    )
    ingest = secret(kit, "ingest")
    assert post(server, "/api/feedback", ingest, {"log_id": log_id, "rating": "up"}).status_code == 403
    assert post(server, "/api/feedback", owner, {"log_id": log_id, "rating": "up"}).status_code == 201
    admin = secret(kit, "admin")
    assert (
        post(server, "/api/feedback", admin, {"message_id": asked["message_id"], "rating": "up"}).status_code
        == 201
    )
    assert [(row.rating, row.log_id) for row in feedback_rows(kit)] == [(1, log_id), (1, asked["log_id"])]


def test_bad_feedback_is_a_4xx_that_says_why(kit: AgentKit, server: RunningServer) -> None:
    key = secret(kit, "chat")
    asked = post(server, "/api/agents/helpdesk/ask", key, {"question": QUESTION}).json()
    later = post(server, "/api/agents/helpdesk/ask", key, {"question": QUESTION}).json()
    cases = [
        ({"message_id": asked["message_id"], "rating": "meh"}, 422, "rating"),
        ({"message_id": asked["message_id"], "rating": 1}, 422, "rating"),
        ({"rating": "up"}, 422, "message_id or log_id"),
        ({"message_id": "x", "rating": "up"}, 422, "message_id"),
        ({"message_id": asked["message_id"], "rating": "up", "stars": 5}, 422, "stars"),
        ({"message_id": asked["message_id"], "rating": "up", "comment": "x" * 2001}, 422, "comment"),
        ({"message_id": 99999, "rating": "up"}, 404, "no answer message 99999"),
        ({"log_id": 99999, "rating": "up"}, 404, "no logged question 99999"),
        (
            {"log_id": asked["log_id"], "message_id": later["message_id"], "rating": "up"},
            404,
            "not about",
        ),
    ]
    for body, status, words in cases:
        response = post(server, "/api/feedback", key, body)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["error"]["message"], (body, response.text)
    assert httpx.post(server.url + "/api/feedback", json={"log_id": 1, "rating": "up"}).status_code == 401
    assert feedback_rows(kit) == []


def test_the_widget_rates_by_log_id_from_its_site(kit: AgentKit, server: RunningServer) -> None:
    key = secret(kit, "chat", agent="helpdesk", origins=[SITE])
    completion = post(
        server,
        "/v1/chat/completions",
        key,
        {"model": "helpdesk", "messages": [{"role": "user", "content": QUESTION}]},
        Origin=SITE,
    ).json()
    log_id = completion["agentkit"]["log_id"]
    preflight = httpx.options(
        server.url + "/api/feedback",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    response = post(server, "/api/feedback", key, {"log_id": log_id, "rating": "up"}, Origin=SITE)
    assert response.status_code == 201 and response.headers["access-control-allow-origin"] == SITE
    (row,) = feedback_rows(kit)
    assert (row.channel, row.log_id, row.rating) == ("widget", log_id, 1)
    elsewhere = post(
        server, "/api/feedback", key, {"log_id": log_id, "rating": "up"}, Origin="https://evil.example"
    )
    assert elsewhere.status_code == 403


def test_agentkit_log_shows_the_feedback(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    stream = agent.stream(QUESTION)
    stream.finish()
    agent.feedback(log_id=stream.log_id, rating=-1, comment="wrong model")
    agent.feedback(log_id=stream.log_id, rating=1)
    shown = CliRunner().invoke(cli, ["--home", str(kit.home), "log", "helpdesk"])
    assert shown.exit_code == 0, shown.output
    assert "  feedback: 1 up, 1 down - wrong model" in shown.output
