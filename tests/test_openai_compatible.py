"""The OpenAI-compatible generator against a local server that speaks the protocol.

The server (tests/openai_test_server.py) streams server-sent events like llama.cpp's server,
Ollama and vLLM. The slow set runs the same generator against llama-cpp-python's own server
(tests/test_slow_openai_server.py).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentkit import AgentKit, GenerationSettings
from agentkit.cli.app import cli
from agentkit.errors import GeneratorError, InvalidSettingError, ModelSpecError
from agentkit.models.generators import ChatMessage
from agentkit.models.openai_compatible import OpenAICompatibleGenerator, parse_openai_target
from agentkit.models.registry import load_generator
from tests.fakes import FakeEmbedder
from tests.openai_test_server import ChatServer, running_chat_server

QUESTION = "Which port does the Zorblat daemon listen on?"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with running_chat_server() as running:
        yield running


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ports.md").write_text("# Ports\n\nThe Zorblat daemon listens on port 7421.\n")
    (folder / "nodes.md").write_text("# Nodes\n\nA Zorblat cluster holds at most 12 nodes.\n")
    return folder


@pytest.fixture
def remote_kit(isolated_home: Path) -> Iterator[AgentKit]:
    """A kit whose generator comes from the agent's model spec (no override)."""
    with AgentKit(home=isolated_home, embedder=FakeEmbedder()) as opened:
        yield opened


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_target_parsing() -> None:
    target = parse_openai_target("http://127.0.0.1:8080/v1/#qwen2.5:0.5b")
    assert (target.base_url, target.model) == ("http://127.0.0.1:8080/v1", "qwen2.5:0.5b")
    assert parse_openai_target("https://models.example/v1").model == "default"
    for bad in ("ftp://host/v1#m", "127.0.0.1:8080/v1", "http:///v1", "http://host/v1?x=1#m"):
        with pytest.raises(ModelSpecError, match="openai"):
            parse_openai_target(bad)


def test_streams_the_reply_and_sends_the_protocol(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MODEL_KEY", "sk-test-123")
    server.script.replies = ["The daemon listens on port 7421 [1]."]
    generator = load_generator(
        f"openai:{server.base_url}#tiny", GenerationSettings(api_key_env="TEST_MODEL_KEY", seed=3)
    )
    pieces = list(generator.stream([ChatMessage("user", "Which port?")], max_tokens=40, temperature=0.0))
    assert len(pieces) > 3 and "".join(pieces) == "The daemon listens on port 7421 [1]."
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.body["model"] == "tiny" and request.body["stream"] is True
    assert request.body["max_tokens"] == 40 and request.body["seed"] == 3
    assert request.body["messages"] == [{"role": "user", "content": "Which port?"}]


def test_agent_answers_grounded_and_cited_through_the_server(
    remote_kit: AgentKit, server: ChatServer, docs: Path
) -> None:
    agent = remote_kit.create_agent("remote", model=f"openai:{server.base_url}#tiny", embedder="hashing-128")
    agent.add_source(str(docs))
    server.script.replies = ["The Zorblat daemon listens on port 7421 [1]."]
    answer = agent.ask(QUESTION)
    assert not answer.abstained and "7421" in answer.text
    assert answer.citations and "ports.md" in answer.citations[0].uri
    prompt = server.requests[-1].body["messages"]
    assert "7421" in json.dumps(prompt)  # the numbered sources went to the server


def test_grounding_applies_to_remote_replies(remote_kit: AgentKit, server: ChatServer, docs: Path) -> None:
    agent = remote_kit.create_agent("remote", model=f"openai:{server.base_url}#tiny", embedder="hashing-128")
    agent.add_source(str(docs))
    server.script.replies = ["The Zorblat daemon listens on port 9999 since 1998 [1]."]
    answer = agent.ask(QUESTION)
    assert "9999" not in answer.text and "1998" not in answer.text  # unsupported claim not passed on
    stream = agent.stream("What is the capital of Australia?")
    assert "".join(stream) and stream.answer.abstained  # gate declines before the server is asked


def test_error_status_names_the_url(server: ChatServer) -> None:
    server.script.status = 503
    generator = load_generator(f"openai:{server.base_url}#tiny", GenerationSettings())
    with pytest.raises(GeneratorError, match=r"127\.0\.0\.1.*/v1/chat/completions answered 503: the model is overloaded"):
        list(generator.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0))


def test_unauthorized_says_to_check_the_key(server: ChatServer) -> None:
    server.script.status = 401
    generator = load_generator(f"openai:{server.base_url}#tiny", GenerationSettings())
    with pytest.raises(GeneratorError, match="API key"):
        list(generator.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0))


def test_server_down_names_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    generator = load_generator(f"openai:{url}#tiny", GenerationSettings())
    with pytest.raises(GeneratorError, match=rf"cannot reach the model server at {url}/chat/completions.*running"):
        list(generator.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0))


def test_timeout_and_broken_stream(server: ChatServer) -> None:
    server.script.delay_s = 2.0
    slow = OpenAICompatibleGenerator(server.base_url, "tiny", timeout_s=0.5)
    with pytest.raises(GeneratorError, match=r"did not answer within 0\.5 s"):
        list(slow.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0))
    server.script.delay_s = 0.0
    server.script.replies = ["one two three four five six"]
    server.script.break_after = 2
    generator = OpenAICompatibleGenerator(server.base_url, "tiny")
    with pytest.raises(GeneratorError, match="broke off"):
        list(generator.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0))


def test_missing_key_variable_is_named(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(GeneratorError, match=r"\$NO_SUCH_KEY_VAR, which is not set"):
        load_generator(f"openai:{server.base_url}#tiny", GenerationSettings(api_key_env="NO_SUCH_KEY_VAR"))
    with pytest.raises(InvalidSettingError, match="name of an environment variable"):
        GenerationSettings(api_key_env="sk-live-abc")


def test_bad_specs_are_refused_at_create(remote_kit: AgentKit) -> None:
    with pytest.raises(ModelSpecError, match="no generator kind 'nosuch'.*llama-cpp.*openai"):
        remote_kit.create_agent("a", model="nosuch:thing")
    with pytest.raises(ModelSpecError, match="http"):
        remote_kit.create_agent("b", model="openai:ftp://host/v1#m")
    with pytest.raises(ModelSpecError, match="does not exist"):
        remote_kit.create_agent("c", model="/no/such/model.gguf")
    assert remote_kit.list_agents() == []


def test_cli_create_and_ask_through_the_server(
    server: ChatServer, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    spec = f"openai:{server.base_url}#tiny"
    created = runner.invoke(
        cli, ["create", "remote", "--model", spec, "--embedder", "hashing-128", "--api-key-env", "REMOTE_KEY"]
    )
    assert created.exit_code == 0, created.output
    assert runner.invoke(cli, ["add", "remote", str(docs)]).exit_code == 0
    monkeypatch.delenv("REMOTE_KEY", raising=False)
    missing = runner.invoke(cli, ["ask", "remote", QUESTION])
    assert missing.exit_code == 1 and "$REMOTE_KEY, which is not set" in missing.output
    monkeypatch.setenv("REMOTE_KEY", "sk-cli")
    server.script.replies = ["The Zorblat daemon listens on port 7421 [1]."]
    answered = runner.invoke(cli, ["ask", "remote", QUESTION, "--json"])
    assert answered.exit_code == 0, answered.output
    payload = json.loads(answered.output)
    assert "7421" in payload["answer"] and not payload["abstained"]
    assert server.requests[-1].headers["authorization"] == "Bearer sk-cli"
    shown = runner.invoke(cli, ["show", "remote", "--json"]).output
    assert "sk-cli" not in shown and spec in shown
    server.script.status = 500
    failed = runner.invoke(cli, ["ask", "remote", QUESTION])
    assert failed.exit_code == 1 and "answered 500" in failed.output and "Traceback" not in failed.output


def test_agents_on_one_server_keep_their_own_keys(
    remote_kit: AgentKit, server: ChatServer, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEY_OF_A", "sk-a")
    monkeypatch.setenv("KEY_OF_B", "sk-b")
    spec = f"openai:{server.base_url}#tiny"
    for name, variable in (("a", "KEY_OF_A"), ("b", "KEY_OF_B")):
        agent = remote_kit.create_agent(
            name, model=spec, embedder="hashing-128", generation=GenerationSettings(api_key_env=variable)
        )
        agent.add_source(str(docs))
        server.script.replies = ["The Zorblat daemon listens on port 7421 [1]."]
        agent.ask(QUESTION)
    assert [request.headers["authorization"] for request in server.requests] == ["Bearer sk-a", "Bearer sk-b"]
