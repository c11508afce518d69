"""The persona: style and answer length reach the model's instructions and token bound on every
channel; the greeting opens `agentkit chat` and the widget; the abstention message is the
agent's own everywhere; `agentkit set` changes them all, also under a running server."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from agentkit import AgentKit
from agentkit.answering.persona import (
    LENGTH_INSTRUCTIONS,
    LONG_ANSWER_TOKENS,
    SHORT_ANSWER_TOKENS,
    STYLE_INSTRUCTIONS,
    persona_instructions,
)
from agentkit.answering.prompting import DEFAULT_SYSTEM_PROMPT
from agentkit.cli.app import cli
from agentkit.cli.chat import run_chat
from agentkit.errors import InvalidSettingError
from agentkit.server.testing import RunningServer, running_server
from tests.fakes import ScriptedGenerator
from tests.server_helpers import kettle_agent, secret

QUESTION = "How fast does the Lumo kettle boil?"
UNANSWERABLE = "What is the capital of Australia?"


def system_prompt(generator: ScriptedGenerator) -> str:
    return generator.prompts[-1][0].content


def test_the_defaults_add_nothing(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = kettle_agent(kit, tmp_path)
    assert (agent.style, agent.answer_length) == ("concise", "medium")
    assert persona_instructions("concise", "medium") == ""
    agent.ask(QUESTION)
    assert system_prompt(scripted_generator) == DEFAULT_SYSTEM_PROMPT
    assert scripted_generator.max_tokens[-1] == agent.generation.max_answer_tokens


@pytest.mark.parametrize("style", ["friendly", "formal"])
@pytest.mark.parametrize("length", ["short", "long"])
def test_style_and_length_reach_the_prompt_and_the_token_bound(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator, style: str, length: str
) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.set(style=style, answer_length=length, system_prompt="Answer questions about Lumo kettles.")
    agent.ask(QUESTION)
    prompt = system_prompt(scripted_generator)
    assert prompt.startswith("Answer questions about Lumo kettles.")
    assert STYLE_INSTRUCTIONS[style] in prompt and LENGTH_INSTRUCTIONS[length] in prompt
    expected = SHORT_ANSWER_TOKENS if length == "short" else LONG_ANSWER_TOKENS
    assert scripted_generator.max_tokens[-1] == expected
    again = kit.get_agent(agent.name)  # stored, not only on this handle
    assert (again.style, again.answer_length) == (style, length)


def test_a_conversation_uses_the_persona_too(
    kit: AgentKit, tmp_path: Path, scripted_generator: ScriptedGenerator
) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.set(style="formal")
    agent.chat().ask(QUESTION)
    assert STYLE_INSTRUCTIONS["formal"] in system_prompt(scripted_generator)


def test_bad_settings_are_named(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    with pytest.raises(InvalidSettingError, match="style 'chatty' is not one of concise, friendly, formal"):
        agent.set(style="chatty")
    with pytest.raises(InvalidSettingError, match="answer length 'huge'"):
        agent.set(answer_length="huge")
    with pytest.raises(InvalidSettingError, match="grounding"):
        agent.set(grounding="loose")
    with pytest.raises(InvalidSettingError, match="keep-log"):
        agent.set(keep_log="30")
    assert kit.get_agent(agent.name).to_dict()["style"] == "concise"


def test_the_abstention_message_and_clearing_it(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.set(abstention_message="Sorry, ask our support desk.")
    assert agent.ask(UNANSWERABLE).text == "Sorry, ask our support desk."
    assert agent.chat().ask(UNANSWERABLE).text == "Sorry, ask our support desk."
    agent.set(abstention_message="")
    assert agent.abstention_message is None and agent.ask(UNANSWERABLE).text != "Sorry, ask our support desk."


def test_the_chat_loop_opens_with_the_greeting(kit: AgentKit, tmp_path: Path) -> None:
    agent = kettle_agent(kit, tmp_path)
    agent.set(greeting="Hello! Ask me anything about your Lumo kettle.")
    piped = io.StringIO()
    run_chat(agent.chat(), io.StringIO(""), piped, interactive=False)
    assert piped.getvalue() == "Hello! Ask me anything about your Lumo kettle.\n"
    terminal = io.StringIO()
    run_chat(agent.chat(), io.StringIO(""), terminal, interactive=True)
    assert "agent> Hello! Ask me anything about your Lumo kettle.\n" in terminal.getvalue()
    agent.set(greeting="")
    silent = io.StringIO()
    run_chat(kit.get_agent(agent.name).chat(), io.StringIO(""), silent, interactive=False)
    assert silent.getvalue() == ""


def test_agentkit_set_changes_every_setting_and_chat_greets(
    tmp_path: Path, local_model_is: Callable[[ScriptedGenerator], None]
) -> None:
    generator = ScriptedGenerator()
    local_model_is(generator)
    runner = CliRunner()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 7421.\n")
    assert runner.invoke(cli, ["create", "demo", "--embedder", "hashing-128"]).exit_code == 0
    assert runner.invoke(cli, ["add", "demo", str(docs)]).exit_code == 0
    result = runner.invoke(
        cli,
        [
            "set", "demo", "--greeting", "Hi, I know Zorblat.", "--style", "friendly", "--answer-length", "short",
            "--abstention-message", "No idea, sorry.", "--keep-log", "30d", "--grounding", "strict",
            "--system-prompt", "You answer Zorblat questions.",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "style 'friendly'" in result.output and "keep-log '30d'" in result.output
    chat = runner.invoke(
        cli, ["chat", "demo"], input="Which port does the Zorblat daemon listen on?\nWho is Zorg?\n"
    )
    assert chat.output.startswith("Hi, I know Zorblat.\n")
    assert "No idea, sorry." in chat.output
    assert generator.prompts[0][0].content.startswith("You answer Zorblat questions.")
    assert STYLE_INSTRUCTIONS["friendly"] in generator.prompts[0][0].content
    assert generator.max_tokens[0] == SHORT_ANSWER_TOKENS
    shown = runner.invoke(cli, ["show", "demo"]).output
    assert "grounding: strict" in shown and "answer_length: short" in shown
    for wrong in (["--style", "chatty"], ["--answer-length", "huge"], []):
        refused = runner.invoke(cli, ["set", "demo", *wrong])
        assert refused.exit_code == 2, refused.output


# ----- the server --------------------------------------------------------------------------


@pytest.fixture
def server(kit: AgentKit, tmp_path: Path) -> Iterator[RunningServer]:
    kettle_agent(kit, tmp_path)
    with running_server(kit) as running:
        yield running


def completion(server: RunningServer, key: str, question: str, **extra: object) -> httpx.Response:
    body = {"model": "helpdesk", "messages": [{"role": "user", "content": question}], **extra}
    return httpx.post(
        server.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def test_a_running_server_answers_with_the_new_persona_at_once(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    key = secret(kit, "chat")
    assert completion(server, key, QUESTION).status_code == 200
    assert system_prompt(scripted_generator) == DEFAULT_SYSTEM_PROMPT
    kit.get_agent("helpdesk").set(style="formal", answer_length="long", abstention_message="Please call us.")
    assert completion(server, key, QUESTION).status_code == 200
    assert STYLE_INSTRUCTIONS["formal"] in system_prompt(scripted_generator)
    assert scripted_generator.max_tokens[-1] == LONG_ANSWER_TOKENS
    assert (
        completion(server, key, UNANSWERABLE).json()["choices"][0]["message"]["content"] == "Please call us."
    )
    native = httpx.post(
        server.url + "/api/agents/helpdesk/ask",
        json={"question": UNANSWERABLE},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert native.json()["answer"] == "Please call us."


def test_a_request_max_tokens_wins_over_the_answer_length(
    kit: AgentKit, server: RunningServer, scripted_generator: ScriptedGenerator
) -> None:
    kit.get_agent("helpdesk").set(answer_length="long")
    assert completion(server, secret(kit, "chat"), QUESTION, max_tokens=50).status_code == 200
    assert scripted_generator.max_tokens[-1] == 50
    assert LENGTH_INSTRUCTIONS["long"] not in system_prompt(scripted_generator)


def test_the_widget_config_gives_the_greeting_to_a_chat_key(
    kit: AgentKit, server: RunningServer, tmp_path: Path
) -> None:
    kettle_agent(kit, tmp_path, name="other")
    kit.get_agent("helpdesk").set(greeting="Hi! Ask me about the Lumo kettle.")
    url = server.url + "/api/agents/helpdesk/widget"
    key = secret(kit, "chat", agent="helpdesk")
    config = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert config.status_code == 200 and config.json() == {
        "agent": "helpdesk",
        "greeting": "Hi! Ask me about the Lumo kettle.",
    }
    assert httpx.get(url, timeout=30).status_code == 401
    other = secret(kit, "chat", agent="other")
    assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}, timeout=30).status_code == 403


def test_an_admin_key_sets_the_persona_over_http(kit: AgentKit, server: RunningServer) -> None:
    admin = {"Authorization": f"Bearer {secret(kit, 'admin')}"}
    url = server.url + "/api/agents/helpdesk"
    changed = httpx.patch(
        url, json={"style": "friendly", "greeting": "Hello!", "keep_log": "7d"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["style"], changed.json()["greeting"], changed.json()["keep_log"]) == (
        "friendly",
        "Hello!",
        "7d",
    )
    assert kit.get_agent("helpdesk").style == "friendly"
    wrong = httpx.patch(url, json={"style": "chatty"}, headers=admin)
    assert wrong.status_code == 400 and "style 'chatty'" in wrong.json()["error"]["message"]
    assert httpx.patch(url, json={"colour": "blue"}, headers=admin).status_code == 422
    chat = {"Authorization": f"Bearer {secret(kit, 'chat')}"}
    assert httpx.patch(url, json={"style": "formal"}, headers=chat).status_code == 403
