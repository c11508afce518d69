"""The question log: every channel writes it (Python API, CLI ask, stdin chat, the native API,
the OpenAI-compatible route, the widget), `agentkit log` reads it, retention purges it."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from agentkit import AgentKit
from agentkit.cli.app import cli
from agentkit.cli.chat import run_chat
from agentkit.errors import InvalidSettingError
from agentkit.evaluation import EvaluationItem
from agentkit.improve.log import LOCK_WAIT_S, list_questions, parse_retention, parse_since, record_question
from agentkit.results import Answer
from agentkit.server.testing import RunningServer, running_server
from agentkit.store.models import QuestionLogRow, utc_now
from tests.fakes import FakeEmbedder, ScriptedGenerator
from tests.server_helpers import kettle_agent, secret

QUESTION = "How fast does the Lumo kettle boil?"
ANSWER = "The Lumo kettle boils 4 litres in 6 minutes [1]."
SITE = "https://shop.example.com"


@pytest.fixture
def server(kit: AgentKit, tmp_path: Path) -> Iterator[RunningServer]:
    kettle_agent(kit, tmp_path)
    with running_server(kit) as running:
        yield running


def post(server: RunningServer, path: str, key: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(
        server.url + path, json=body, headers={"Authorization": f"Bearer {key}", **headers}, timeout=30
    )


def logged_rows(kit: AgentKit) -> list[QuestionLogRow]:
    with kit.sessions() as session:
        return list(session.scalars(select(QuestionLogRow).order_by(QuestionLogRow.id)))


# ----- the Python API and the stdin chat ---------------------------------------------------


def test_the_python_api_logs_question_answer_decision_and_latency(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    answer = agent.ask(QUESTION)
    stream = agent.stream("What is the capital of Australia?")
    "".join(stream)
    abstained = stream.finish()
    (unanswered, answered) = agent.log()
    assert answered.channel == "python" and answered.question == QUESTION and answered.answer == answer.text
    assert not answered.abstained and answered.citations[0]["uri"].split("#")[0].endswith("brew.md")
    assert "text" not in answered.citations[0]  # the chunk's text stays in its own table
    assert answered.decision.startswith("gate:") and answered.latency_ms >= 0
    assert answered.conversation_id is None and answered.message_id is None and answered.api_key_id is None
    assert unanswered.abstained and unanswered.answer == abstained.text and stream.log_id == unanswered.id
    assert [entry.id for entry in agent.log(unanswered=True)] == [unanswered.id]
    assert agent.log(channel="cli") == [] and len(agent.log(since="1h", limit=1)) == 1


def test_evaluation_questions_stay_out_of_the_log(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.evaluate([EvaluationItem(question=QUESTION, answers=("6 minutes",))])
    assert agent.log() == []


def test_a_conversation_logs_each_turn_with_its_message(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    conversation = agent.chat(channel="chat")
    conversation.ask(QUESTION)
    conversation.ask("And how often should I descale it?")
    second, first = agent.log()
    assert first.channel == second.channel == "chat"
    assert first.conversation_id == second.conversation_id == conversation.id
    assert second.message_id == conversation.last_message_id and second.id == conversation.last_log_id
    assert first.message_id is not None and first.message_id < second.message_id


def test_the_stdin_chat_loop_logs_as_chat(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    output = io.StringIO()
    run_chat(agent.chat(channel="chat"), io.StringIO(QUESTION + "\n"), output, interactive=False)
    assert ANSWER in output.getvalue()
    assert [(entry.channel, entry.question) for entry in agent.log()] == [("chat", QUESTION)]


def test_a_failure_to_log_is_a_warning_and_the_answer_still_comes(
    kit: AgentKit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = kettle_agent(kit, tmp_path)
    with kit.engine.begin() as connection:
        connection.execute(text("DROP TABLE question_log"))
    with caplog.at_level(logging.WARNING, logger="agentkit.improve.log"):
        answer = agent.ask(QUESTION)
    assert answer.text == ANSWER
    assert "could not log the question" in caplog.text


# ----- the command line --------------------------------------------------------------------


@pytest.fixture
def cli_agent(tmp_path: Path, local_model_is: Callable[[ScriptedGenerator], None]) -> CliRunner:
    local_model_is(ScriptedGenerator())
    runner = CliRunner()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 7421.\n")
    assert runner.invoke(cli, ["create", "demo", "--embedder", "hashing-128"]).exit_code == 0
    assert runner.invoke(cli, ["add", "demo", str(docs)]).exit_code == 0
    return runner


def test_cli_ask_and_chat_log_and_agentkit_log_lists_them(cli_agent: CliRunner) -> None:
    runner = cli_agent
    asked = runner.invoke(cli, ["ask", "demo", "Which port does the Zorblat daemon listen on?"])
    assert asked.exit_code == 0 and "7421" in asked.output
    chatted = runner.invoke(cli, ["chat", "demo"], input="What is the capital of Australia?\n")
    assert chatted.exit_code == 0, chatted.output
    entries = json.loads(runner.invoke(cli, ["log", "demo", "--json"]).output)
    assert [(entry["channel"], entry["abstained"]) for entry in entries] == [("chat", True), ("cli", False)]
    assert entries[0]["conversation_id"] is not None and entries[0]["message_id"] is not None
    listed = runner.invoke(cli, ["log", "demo"])
    assert listed.exit_code == 0
    assert "[cli] answered" in listed.output and "UNANSWERED" in listed.output
    assert "Q: Which port does the Zorblat daemon listen on?" in listed.output
    unanswered = json.loads(runner.invoke(cli, ["log", "demo", "--unanswered", "--json"]).output)
    assert [entry["channel"] for entry in unanswered] == ["chat"]
    only_cli = json.loads(
        runner.invoke(cli, ["log", "demo", "--channel", "cli", "--since", "7d", "--json"]).output
    )
    assert [entry["channel"] for entry in only_cli] == ["cli"]
    assert len(json.loads(runner.invoke(cli, ["log", "demo", "--limit", "1", "--json"]).output)) == 1


def test_cli_log_options_are_checked(cli_agent: CliRunner) -> None:
    bad_since = cli_agent.invoke(cli, ["log", "demo", "--since", "yesterday"])
    assert bad_since.exit_code != 0 and "--since 'yesterday' is not understood" in bad_since.output
    bad_channel = cli_agent.invoke(cli, ["log", "demo", "--channel", "fax"])
    assert bad_channel.exit_code != 0 and "fax" in bad_channel.output
    missing = cli_agent.invoke(cli, ["log", "nobody"])
    assert missing.exit_code != 0 and "no agent named 'nobody'" in missing.output
    empty = cli_agent.invoke(cli, ["log", "demo"])
    assert empty.exit_code == 0 and "No logged questions yet." in empty.output


# ----- retention ---------------------------------------------------------------------------


def test_retention_settings_are_parsed_and_bad_ones_named() -> None:
    assert parse_retention("30d") == 30 and parse_retention(" 7D ") == 7
    assert parse_retention("forever") is None and parse_retention("off") == "off"
    for bad in ("30", "0d", "1y", "", "always"):
        with pytest.raises(InvalidSettingError, match="keep-log"):
            parse_retention(bad)
    now = utc_now()
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    with pytest.raises(InvalidSettingError, match="--since"):
        parse_since("0d")


def _age_all(kit: AgentKit, days: int) -> None:
    with kit.sessions() as session, session.begin():
        session.execute(update(QuestionLogRow).values(asked_at=utc_now() - timedelta(days=days)))


def test_a_write_purges_rows_older_than_the_window(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.ask(QUESTION)
    agent.ask(QUESTION)
    _age_all(kit, 40)
    agent.set(keep_log="30d")  # setting a window purges at once too
    assert agent.log() == []
    agent.ask(QUESTION)
    _age_all(kit, 31)
    agent.ask("How often should I descale the kettle?")
    assert [entry.question for entry in agent.log()] == ["How often should I descale the kettle?"]


def test_forever_keeps_everything(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.ask(QUESTION)
    _age_all(kit, 4000)
    agent.ask(QUESTION)
    assert len(agent.log()) == 2 and agent.keep_log == "forever"


def test_off_writes_nothing_from_any_channel(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.set(keep_log="off")
    agent.ask(QUESTION)
    conversation = agent.chat(channel="chat")
    conversation.ask(QUESTION)
    assert conversation.last_message_id is not None and conversation.last_log_id is None
    with kit.sessions() as session:
        written = record_question(
            session,
            agent_id=agent.id,
            channel="python",
            question="q",
            answer=Answer("a"),
            decision="",
            latency_ms=1,
        )
    assert written is None and logged_rows(kit) == []


def test_log_purge_removes_expired_rows_and_says_how_many(cli_agent: CliRunner, isolated_home: Path) -> None:
    runner = cli_agent
    for _ in range(3):
        assert (
            runner.invoke(cli, ["ask", "demo", "Which port does the Zorblat daemon listen on?"]).exit_code
            == 0
        )
    with AgentKit(home=isolated_home) as kit:
        with kit.sessions() as session, session.begin():
            first = session.scalars(select(QuestionLogRow.id).order_by(QuestionLogRow.id)).first()
            session.execute(
                update(QuestionLogRow)
                .where(QuestionLogRow.id != first)
                .values(asked_at=utc_now() - timedelta(days=10))
            )
    kept = runner.invoke(cli, ["log", "purge", "demo"])
    assert kept.exit_code == 0 and "Removed 0 logged questions of demo (keep-log forever)." in kept.output
    bad = runner.invoke(cli, ["set", "demo", "--keep-log", "a month"])
    assert bad.exit_code == 1 and "keep-log 'a month' is not understood" in bad.output
    # Written straight to SQL (as an older agentkit or another process might have left it).
    with AgentKit(home=isolated_home) as kit, kit.sessions() as session, session.begin():
        session.execute(text("UPDATE agents SET keep_log = '7d'"))
    purged = runner.invoke(cli, ["log", "purge", "demo"])
    assert purged.exit_code == 0 and "Removed 2 logged questions of demo (keep-log 7d)." in purged.output
    assert len(json.loads(runner.invoke(cli, ["log", "demo", "--json"]).output)) == 1
    everything = runner.invoke(cli, ["log", "purge", "demo", "--all"])
    assert everything.exit_code == 0 and "Removed 1 logged question of demo" in everything.output
    assert json.loads(runner.invoke(cli, ["log", "demo", "--json"]).output) == []


# ----- the server --------------------------------------------------------------------------


def test_the_native_api_logs_as_server_with_the_key_and_message(kit: AgentKit, server: RunningServer) -> None:
    key = secret(kit, "chat", agent="helpdesk")
    response = post(server, "/api/agents/helpdesk/ask", key, {"question": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    (row,) = logged_rows(kit)
    assert row.channel == "server" and row.question == QUESTION and row.answer == body["answer"]
    assert row.conversation_id == body["conversation_id"] and row.message_id == body["message_id"]
    assert body["log_id"] == row.id and row.api_key_id is not None
    conversation = httpx.get(
        f"{server.url}/api/conversations/{body['conversation_id']}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ).json()
    assert conversation["messages"][-1]["id"] == body["message_id"]


def test_the_openai_route_logs_as_openai_and_hands_out_the_log_id(
    kit: AgentKit, server: RunningServer
) -> None:
    key = secret(kit, "chat")
    body = {"model": "helpdesk", "messages": [{"role": "user", "content": QUESTION}]}
    response = post(server, "/v1/chat/completions", key, body)
    assert response.status_code == 200, response.text
    (row,) = logged_rows(kit)
    assert row.channel == "openai" and row.answer == ANSWER and row.conversation_id is None
    assert response.json()["agentkit"]["log_id"] == row.id and row.api_key_id is not None


def test_the_widget_logs_as_widget_also_when_streaming(kit: AgentKit, server: RunningServer) -> None:
    """The widget is a browser: it sends Origin (a key that lists that site)."""
    key = secret(kit, "chat", agent="helpdesk", origins=[SITE])
    body = {"model": "helpdesk", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    response = post(server, "/v1/chat/completions", key, body, Origin=SITE)
    assert response.status_code == 200, response.text
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    (row,) = logged_rows(kit)
    assert row.channel == "widget" and row.answer == ANSWER
    assert events[-1]["agentkit"]["log_id"] == row.id


def test_a_log_switched_off_gives_no_log_id(kit: AgentKit, server: RunningServer) -> None:
    kit.get_agent("helpdesk").set(keep_log="off")
    key = secret(kit, "chat")
    body = {"model": "helpdesk", "messages": [{"role": "user", "content": QUESTION}]}
    assert post(server, "/v1/chat/completions", key, body).json()["agentkit"]["log_id"] is None
    asked = post(server, "/api/agents/helpdesk/ask", key, {"question": QUESTION}).json()
    assert asked["log_id"] is None and asked["message_id"] is not None
    assert logged_rows(kit) == []


def test_list_questions_joins_feedback(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    stream = agent.stream(QUESTION)
    stream.finish()
    assert stream.log_id is not None
    agent.feedback(log_id=stream.log_id, rating=-1, comment="too short")
    agent.feedback(log_id=stream.log_id, rating=1)
    with kit.sessions() as session:
        (entry,) = list_questions(session, agent.id)
    assert entry.feedback == [(-1, "too short"), (1, "")]
    assert entry.to_dict()["feedback"] == [
        {"rating": -1, "comment": "too short"},
        {"rating": 1, "comment": ""},
    ]


def test_a_curated_answer_is_logged_with_its_id(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    curated = agent.curated.add(QUESTION, "Six minutes for a full 4 litres.")
    answer = agent.ask(QUESTION)
    assert answer.text == "Six minutes for a full 4 litres."
    (entry,) = agent.log()
    assert entry.curated_answer_id == curated.id
    assert entry.decision.startswith(f"curated answer #{curated.id}")


def test_an_admin_key_reads_the_log_over_http(kit: AgentKit, server: RunningServer) -> None:
    chat = secret(kit, "chat")
    post(server, "/api/agents/helpdesk/ask", chat, {"question": QUESTION})
    post(server, "/api/agents/helpdesk/ask", chat, {"question": "What is the capital of Australia?"})
    admin = {"Authorization": f"Bearer {secret(kit, 'admin')}"}
    url = server.url + "/api/agents/helpdesk/log"
    entries = httpx.get(url, headers=admin, timeout=30).json()
    assert [entry["abstained"] for entry in entries] == [True, False]
    assert entries[0]["channel"] == "server" and entries[0]["feedback"] == []
    unanswered = httpx.get(
        url, params={"unanswered": "true", "since": "1h"}, headers=admin, timeout=30
    ).json()
    assert [entry["question"] for entry in unanswered] == ["What is the capital of Australia?"]
    bad = httpx.get(url, params={"since": "lately"}, headers=admin, timeout=30)
    assert bad.status_code == 400 and "--since 'lately'" in bad.json()["error"]["message"]
    assert httpx.get(url, headers={"Authorization": f"Bearer {chat}"}, timeout=30).status_code == 403


def test_an_unknown_channel_is_refused_before_answering(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = kettle_agent(kit, tmp_path)
    with pytest.raises(InvalidSettingError, match="channel 'fax' is not one of cli, python"):
        agent.ask(QUESTION, channel="fax")
    with pytest.raises(InvalidSettingError, match="channel 'fax'"):
        agent.chat(channel="fax").ask(QUESTION)
    with pytest.raises(InvalidSettingError, match="channel 'fax'"):
        agent.log(channel="fax")
    assert scripted_generator.prompts == []


def test_the_log_retention_and_feedback_work_on_postgresql(tmp_path: Path, pgvector_url: str) -> None:
    generator = ScriptedGenerator()
    with AgentKit(
        home=tmp_path / "pg", database_url=pgvector_url, embedder=FakeEmbedder(), generator=generator
    ) as kit:
        agent = kettle_agent(kit, tmp_path)
        agent.ask(QUESTION)
        conversation = agent.chat(channel="chat")
        conversation.ask("What is the capital of Australia?")
        unanswered, answered = agent.log()
        assert (answered.channel, answered.abstained) == ("python", False)
        assert (unanswered.channel, unanswered.abstained, unanswered.message_id) == (
            "chat",
            True,
            conversation.last_message_id,
        )
        agent.feedback(message_id=conversation.last_message_id, rating=-1, comment="no answer")
        assert [entry.id for entry in agent.log(unanswered=True, since="1d")] == [unanswered.id]
        assert agent.log(unanswered=True)[0].feedback == [(-1, "no answer")]
        _age_all(kit, 40)
        agent.set(keep_log="30d")
        agent.ask(QUESTION)
        assert [entry.question for entry in agent.log()] == [QUESTION]
        assert agent.purge_log(everything=True) == 1


def test_an_answer_does_not_wait_for_a_writer_holding_sqlite(kit: AgentKit, tmp_path: Path) -> None:
    """Another process in the middle of a write (a sync committing): the answer comes at once
    without a log id, and the question is logged once the lock is free."""
    agent = kettle_agent(kit, tmp_path)
    other_process = sqlite3.connect(kit.home / "agentkit.db", isolation_level=None)
    try:
        other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
        started = time.monotonic()
        stream = agent.stream(QUESTION)
        assert stream.finish().text == ANSWER
        assert time.monotonic() - started < LOCK_WAIT_S + 5
        assert stream.log_id is None
    finally:
        other_process.execute("COMMIT")
        other_process.close()
    deadline = time.monotonic() + 20
    while not agent.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [entry.question for entry in agent.log()] == [QUESTION]
